package upstream

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestTokenSearch compares index with bytes.Index on haystacks full of
// near misses: pieces of the token, its rare byte alone, the token cut
// at both ends of the haystack.
func TestTokenSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, token := range []string{"tok-SECRET-123", "ya29.a0AfH6SMBx", "eyJhbGciOiJIUzI1NiJ9.e30.sig", "aaaa", "b", "Bearer x"} {
		s := newTokenSearch(token)
		pieces := []string{token, token[:len(token)/2], token[len(token)/2:], string(token[s.rare]), "x", " ", "\"", "ab"}
		for range 2000 {
			var b bytes.Buffer
			for range rng.IntN(12) {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
			hay := b.Bytes()
			if got, want := s.index(hay), bytes.Index(hay, []byte(token)); got != want {
				t.Fatalf("token %q in %q: index %d, bytes.Index %d", token, hay, got, want)
			}
		}
	}
}

func BenchmarkTokenSearch(b *testing.B) {
	var jsonDoc bytes.Buffer
	for i := 0; jsonDoc.Len() < 100<<10; i++ {
		fmt.Fprintf(&jsonDoc, `{"id":%d,"name":"item-%06d","active":true,"score":0.5,"tags":["a","b"]},`, i, i)
	}
	letters := make([]byte, 100<<10)
	for i := range letters {
		letters[i] = 'a' + byte(i%26)
	}
	token := "bench-token-mhx3k2v9"
	s := newTokenSearch(token)
	for _, data := range []struct {
		name string
		b    []byte
	}{{"json", jsonDoc.Bytes()}, {"letters", letters}} {
		b.Run(data.name+"/bytes.Index", func(b *testing.B) {
			b.SetBytes(int64(len(data.b)))
			for b.Loop() {
				bytes.Index(data.b, []byte(token))
			}
		})
		b.Run(data.name+"/rare-byte", func(b *testing.B) {
			b.SetBytes(int64(len(data.b)))
			for b.Loop() {
				s.index(data.b)
			}
		})
	}
}
