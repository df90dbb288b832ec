package upstream

import (
	"bytes"
	"strings"
)

// tokenSearch finds the access token in provider bytes. Every envelope
// body and every raw chunk is searched, so the search must be nearly as
// fast as a memory scan. bytes.Index looks for the token's first byte and
// compares from there; when that byte is common in the body (a token
// starting with a lower-case letter, in JSON or text) it stops every few
// bytes. This looks for the token's rarest byte instead, by a fixed guess
// of byte frequency in API answers: tokens are full of upper-case letters,
// digits and '.', '-', '_' that such answers have few of.
type tokenSearch struct {
	token []byte
	rare  int // index in token of its rarest byte
}

func newTokenSearch(token string) tokenSearch {
	t := tokenSearch{token: []byte(token)}
	for i := range t.token {
		if byteRank[t.token[i]] > byteRank[t.token[t.rare]] {
			t.rare = i
		}
	}
	return t
}

// index returns where the token first starts in b, or -1. The token
// must not be empty.
func (t tokenSearch) index(b []byte) int {
	n, r, c := len(t.token), t.rare, t.token[t.rare]
	fails := 0
	for i := r; i < len(b); {
		j := bytes.IndexByte(b[i:], c)
		if j < 0 {
			return -1
		}
		start := i + j - r
		if start+n > len(b) {
			return -1
		}
		if b[start] == t.token[0] && b[start+n-1] == t.token[n-1] && bytes.Equal(b[start:start+n], t.token) {
			return start
		}
		// The guess was wrong for this body: the byte is common here.
		// bytes.Index does better then (it switches to a vectorised
		// search on too many false starts of its own).
		if fails++; fails > (i+16)/8 {
			if k := bytes.Index(b[start+1:], t.token); k >= 0 {
				return start + 1 + k
			}
			return -1
		}
		i += j + 1
	}
	return -1
}

// byteRank orders bytes from common (0) to rare (255) in JSON, HTML and
// text: the order of commonBytes, then everything else.
var byteRank = func() (rank [256]byte) {
	for i := range rank {
		rank[i] = 255
	}
	const commonBytes = " \"e:,tainosrl\n1{}0dc2u\tmhp3g\r54b6f987y/.w-_<>=vkxj[]zq#'" +
		"ACSTEDIRNMOLPBFHGUWVYKXJQZ+;()&%!?$@*|^~`\\"
	for i := range len(commonBytes) {
		if rank[commonBytes[i]] == 255 {
			rank[commonBytes[i]] = byte(i)
		}
	}
	return rank
}()

// escapedForm returns token as JSON encoders that escape '/' write it
// ("\/": PHP's json_encode does by default), or "" when token has no '/'.
// An API echoing the request in JSON then shows the token in this form.
func escapedForm(token string) string {
	if !strings.Contains(token, "/") {
		return ""
	}
	return strings.ReplaceAll(token, "/", `\/`)
}
