package upstream

import (
	"encoding/binary"
	"math/bits"
)

// maxJSONDepth mirrors encoding/json's maxNestingDepth: json.Valid rejects
// the 10001st open bracket, so we must too or the answers would differ.
const maxJSONDepth = 10000

// validJSON reports whether b is exactly one JSON value (RFC 8259), with
// optional surrounding whitespace — the same answer as encoding/json.Valid,
// but in one pass without a per-byte state-function call.
//
// It never recurses and never allocates: open containers are tracked in a
// fixed bit-stack big enough for maxJSONDepth, so hostile nesting costs
// neither goroutine stack nor heap.
// Not strictjson: it only answers yes or no for a provider's bytes, at call
// speed, where strictjson checks files at load for repeated keys.
func validJSON(b []byte) bool {
	// Bit d set means the container at depth d is an object, clear an array.
	// 1.25 KB on the stack is cheaper than any allocation and covers the
	// whole depth json.Valid accepts.
	var stack [(maxJSONDepth + 63) / 64]uint64
	var depth uint    // unsigned so /64 and %64 are a shift and a mask
	inObject := false // the top of the stack, cached: it is read after every value
	i := skipSpace(b, 0)
	for {
		// One iteration per value. In an object every value is preceded by
		// its key, so that is what starts at i.
		if i >= len(b) {
			return false
		}
		if inObject {
			if b[i] != '"' {
				return false
			}
			if i = scanString(b, i+1); i < 0 {
				return false
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return false
			}
			if i = skipSpace(b, i+1); i >= len(b) {
				return false
			}
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth == maxJSONDepth {
				return false
			}
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '{'+2 == '}', '['+2 == ']'
				i++
				break // an empty container is a complete value
			}
			inObject = c == '{'
			if inObject {
				stack[depth/64] |= 1 << (depth % 64)
			} else {
				stack[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			continue // the first member follows
		case '"':
			i = scanString(b, i+1)
		case 't':
			i = literal(b, i, "true")
		case 'f':
			i = literal(b, i, "false")
		case 'n':
			i = literal(b, i, "null")
		default:
			i = scanNumber(b, i)
		}
		if i < 0 {
			return false
		}

		// A value just ended: close as many containers as the input closes,
		// then either find a comma leading to the next value or finish.
		for {
			i = skipSpace(b, i)
			if depth == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			c := b[i]
			if c == ',' {
				i = skipSpace(b, i+1)
				break
			}
			if inObject && c != '}' || !inObject && c != ']' {
				return false
			}
			depth--
			i++
			if depth > 0 {
				inObject = stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			}
		}
	}
}

// skipSpace returns the index of the first non-whitespace byte at or after
// i. Only the four RFC 8259 whitespace bytes count; \v, \f and NBSP do not.
func skipSpace(b []byte, i int) int {
	for ; i < len(b); i++ {
		c := b[i]
		if c > ' ' || c != ' ' && c != '\n' && c != '\t' && c != '\r' {
			break
		}
	}
	return i
}

// literal checks that lit starts at i. What follows is the caller's
// problem: "truex" fails there because x cannot follow a value.
func literal(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

const (
	ones    = 0x0101010101010101
	highs   = 0x8080808080808080
	slashes = ones * '\\'
)

// scanString is called just past an opening quote and returns the index
// just past the closing one, or -1. Like json.Valid it checks escapes and
// control bytes but not UTF-8: any byte >= 0x20 other than `"` and `\` is
// plain.
func scanString(b []byte, i int) int {
	for {
		var c byte // the first byte that is not plain
		if i+8 <= len(b) {
			// Most string bytes are plain, so test eight at a time with the
			// has-less-than trick (x-n*ones)&^x&highs, which flags bytes of x
			// below n. XOR with 0x02 turns '"' into 0x20 and keeps control
			// bytes below 0x20, so one test against 0x21 finds both; a second
			// finds '\\' (x=w^slashes, n=1). A spurious flag can only appear
			// above a genuine one (borrows carry upwards), so the lowest flag
			// is exact and, little-endian, is the first special byte.
			w := binary.LittleEndian.Uint64(b[i:])
			q, s := w^(ones*0x02), w^slashes
			m := ((q-ones*0x21)&^q | (s-ones)&^s) & highs
			if m == 0 {
				i += 8
				continue
			}
			n := bits.TrailingZeros64(m) // 8k+7 for the k-th byte
			i += n / 8
			c = byte(w >> (n &^ 7)) // rather than wait to reload b[i]
		} else {
			// Fewer than eight bytes left: the input ends within this string
			// or just after it.
			for i < len(b) && b[i] >= 0x20 && b[i] != '"' && b[i] != '\\' {
				i++
			}
			if i >= len(b) {
				return -1
			}
			c = b[i]
		}
		switch c {
		case '"':
			return i + 1
		case '\\':
			// Handled here rather than in a helper: a call would cost every
			// string, escaped or not, a stack check and spilled registers.
			// \u needs four hex digits but, as in json.Valid, any code unit
			// will do, lone surrogates included.
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		default: // control byte
			return -1
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f'
}

// scanNumber returns the index just past the number at i, or -1. It is
// also the catch-all for bytes that cannot start any value.
func scanNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	// The integer part: at least one digit, and a leading zero only alone.
	j := skipDigits(b, i)
	if j == i || b[i] == '0' && j > i+1 {
		return -1
	}
	i = j
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i]-'0' <= 9 {
		i++
	}
	return i
}
