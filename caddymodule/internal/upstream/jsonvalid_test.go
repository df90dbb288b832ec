package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// validJSONCases is shared by the table test and the fuzz seeds.
var validJSONCases = []struct {
	in   string
	want bool
}{
	// Empty and whitespace.
	{"", false},
	{" ", false},
	{" \t\r\n", false},
	{" \t\r\n1 \t\r\n", true},
	{"\v1", false},
	{"1\f", false},
	{"\u00a01", false},
	{"1\u00a0", false},
	{"\x001", false},
	{"1\x00", false},

	// Literals.
	{"true", true},
	{"false", true},
	{"null", true},
	{"tru", false},
	{"t", false},
	{"nul", false},
	{"fals", false},
	{"falsey", false},
	{"truex", false},
	{"nullnull", false},
	{"True", false},
	{"NULL", false},
	{"nan", false},
	{"[true,false,null]", true},

	// Numbers.
	{"0", true},
	{"-0", true},
	{"-", false},
	{"--1", false},
	{"+1", false},
	{"01", false},
	{"-01", false},
	{"00", false},
	{"1.", false},
	{".5", false},
	{"-.5", false},
	{"1.5", true},
	{"0.0001", true},
	{"1e", false},
	{"1e+", false},
	{"1e-", false},
	{"1e5", true},
	{"1E5", true},
	{"1e+5", true},
	{"1E-05", true},
	{"1.5e3", true},
	{"1.e3", false},
	{"1e3.5", false},
	{"1e3e3", false},
	{"0x1", false},
	{"1 2", false},
	{"12345678901234567890123456789", true},
	{"-1234567890.0987654321e-1234567890", true},
	{"[-]", false},
	{"[1.]", false},
	{"[01]", false},
	{"[0,1]", true},
	{"{\"a\":1e}", false},
	{"Infinity", false},

	// Strings: escapes.
	{`""`, true},
	{`"`, false},
	{`"abc`, false},
	{`"\""`, true},
	{`"\\"`, true},
	{`"\/"`, true},
	{`"\b"`, true},
	{`"\f"`, true},
	{`"\n"`, true},
	{`"\r"`, true},
	{`"\t"`, true},
	{`"\u0041"`, true},
	{`"\uABCD\uabcd\uAbCd"`, true},
	{`"\uD800"`, true},       // lone high surrogate
	{`"\uDC00"`, true},       // lone low surrogate
	{`"\uDC00\uD800"`, true}, // reversed pair
	{`"\a"`, false},
	{`"\v"`, false},
	{`"\'"`, false},
	{`"\0"`, false},
	{`"\x41"`, false},
	{`"\U0041"`, false},
	{`"\u"`, false},
	{`"\u1"`, false},
	{`"\u12"`, false},
	{`"\u123"`, false},
	{`"\u123g"`, false},
	{`"\uG123"`, false},
	{`"\u12 4"`, false},
	{`"\u-123"`, false},
	{`"\u00411"`, true},
	{`"\`, false},
	{`"\u00`, false},
	{`"\"`, false},
	{`"\\\"`, false},
	{`"\\\\"`, true},

	// Strings: control bytes, DEL and non-ASCII.
	{"\"\x00\"", false},
	{"\"\x01\"", false},
	{"\"\t\"", false},
	{"\"\n\"", false},
	{"\"\r\"", false},
	{"\"\x1f\"", false},
	{"\"\x20\"", true},
	{"\"\x7f\"", true},
	{"\"héllo 世界 🎉\"", true},
	{"\"\xff\"", true},         // invalid UTF-8 is not checked
	{"\"\xc3\"", true},         // truncated sequence
	{"\"\xed\xa0\x80\"", true}, // encoded surrogate
	{"\"\xc0\xaf\"", true},     // overlong
	{"\"\x80\x80\x80\x80\x80\x80\x80\x80\x80\"", true},
	{"\"\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\"", true}, // bytes >= 0xa0 in a SWAR word
	{"\"\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\"", true},
	{"\"\xdc\xdc\xdc\xdc\xdc\xdc\xdc\xdc\xdc\"", true},
	{"\"\xff\xff\xff\xff\xff\xff\xff\xff\x1f\"", false},

	// Strings around the 8-byte SWAR boundary. The opening quote is at 0,
	// so the first word covers bytes 1..8.
	{`"1234567"`, true},                      // closing quote at byte 8, last of first word
	{`"12345678"`, true},                     // closing quote at byte 9, first of the tail
	{`"123456789012345"`, true},              // quote ends the second word
	{`"1234567890123456"`, true},             // quote just past the second word, in the tail
	{`"1234567`, false},                      // too short for a word, unterminated
	{`"12345678`, false},                     // unterminated, exactly one word
	{`"123456\"`, false},                     // escaped quote at the end of a word, no close
	{`"123456\""`, true},                     // backslash byte 7, escaped char byte 8
	{`"1234567\""`, true},                    // backslash last of a word, escape in the next
	{`"1234567\u0041"`, true},                // \u straddles a word
	{`"12\u0041"`, true},                     // \u ends exactly at a word end
	{`"1234567\u004"`, false},                // \u straddling, too short
	{`"1234567\u004G12345678"`, false},       // \u straddling, bad hex
	{`"1234567\q"`, false},                   // bad escape straddling
	{"\"1234567\x1f\"", false},               // control at the end of a word
	{"\"12345678\x1f\"", false},              // control just past the first word
	{"\"\x1f2345678\"", false},               // control at the start of a word
	{"\"123\"4567\"", false},                 // quote in the middle of a word, then junk
	{`"abcdefgh\nabcdefgh\tabcdefgh"`, true}, // several words with escapes
	{`"\\\\\\\\\\\\\\\\"`, true},             // a full word of backslashes
	{`"\\\\\\\\\\\\\\\"`, false},             // odd backslashes eat the quote
	{`["1234567","12345678",""]`, true},

	// Arrays and objects.
	{"[]", true},
	{"{}", true},
	{"[ ]", true},
	{"{ }", true},
	{" [ \n ] ", true},
	{"[", false},
	{"]", false},
	{"{", false},
	{"}", false},
	{"[}", false},
	{"{]", false},
	{"[1,]", false},
	{"[,1]", false},
	{"[,]", false},
	{"[1,,2]", false},
	{"[1 2]", false},
	{"[1", false},
	{"[1,", false},
	{"[[]", false},
	{"[]]", false},
	{`{"a":1,}`, false},
	{`{,"a":1}`, false},
	{`{"a" 1}`, false},
	{`{"a"}`, false},
	{`{"a":}`, false},
	{`{"a"::1}`, false},
	{`{"a":1 "b":2}`, false},
	{`{"a":1,"b"}`, false},
	{`{a:1}`, false},
	{`{1:1}`, false},
	{`{'a':1}`, false},
	{`{"a":1`, false},
	{`{"a":`, false},
	{`{"a"`, false},
	{`{"a":1}`, true},
	{` { "a" : 1 , "b" : [ 2 , { } ] } `, true},
	{`{"a":{"b":{"c":[[],{}]}}}`, true},
	{`[{"a":[{"b":[]}]}]`, true},
	{`{"a":[1,2}`, false},
	{`[{"a":1]}`, false},
	{`{"":""}`, true},
	{`{"a":1,"a":2}`, true}, // duplicate keys are not json.Valid's business

	// Trailing data after the value.
	{"1 1", false},
	{"[]x", false},
	{"{}{}", false},
	{"[][]", false},
	{`"a""b"`, false},
	{`"a" "b"`, false},
	{"true false", false},
	{"1,", false},
	{"[1]\x00", false},
	{"1\n", true},
	{"[]\r\n", true},

	// Nesting depth: json.Valid accepts exactly 10000 levels.
	{strings.Repeat("[", 10000) + strings.Repeat("]", 10000), true},
	{strings.Repeat("[", 10001) + strings.Repeat("]", 10001), false},
	{strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000), true},
	{strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001), false},
	{strings.Repeat(`[{"":`, 5000) + "[]" + strings.Repeat("}]", 5000), false}, // 10001
	{strings.Repeat(`[{"":`, 5000) + "0" + strings.Repeat("}]", 5000), true},
	{strings.Repeat("[", 10001), false},
	{strings.Repeat("[", 100000), false},
	// Depth going down and up again must not keep counting.
	{"[" + strings.Repeat(strings.Repeat("[", 9999)+strings.Repeat("]", 9999)+",", 3) + "0]", true},
	// A deep object above a deep array: the bit-stack must remember which.
	{strings.Repeat(`{"a":[`, 300) + strings.Repeat("]}", 300), true},
	{strings.Repeat(`{"a":[`, 300) + strings.Repeat("}]", 300), false},
}

func TestValidJSON(t *testing.T) {
	for _, tc := range validJSONCases {
		in := []byte(tc.in)
		got := validJSON(in)
		name := tc.in
		if len(name) > 40 {
			name = fmt.Sprintf("%.40q...(%d bytes)", name, len(name))
		} else {
			name = fmt.Sprintf("%q", name)
		}
		if got != tc.want {
			t.Errorf("validJSON(%s) = %v, want %v", name, got, tc.want)
		}
		if ref := json.Valid(in); got != ref {
			t.Errorf("validJSON(%s) = %v, json.Valid = %v", name, got, ref)
		}
	}
}

// TestValidJSONPadded appends whitespace to every table input and
// truncates it at every length. SWAR words are counted from each string's
// opening quote, so what moves a special byte between a full word and the
// byte-by-byte tail is how much input follows it.
func TestValidJSONPadded(t *testing.T) {
	for _, tc := range validJSONCases {
		if len(tc.in) > 200 {
			continue
		}
		for pad := range 16 {
			in := []byte(tc.in + strings.Repeat(" ", pad))
			if got, ref := validJSON(in), json.Valid(in); got != ref {
				t.Errorf("validJSON(%q) = %v, json.Valid = %v", in, got, ref)
			}
		}
		for n := range len(tc.in) {
			in := []byte(tc.in[:n])
			if got, ref := validJSON(in), json.Valid(in); got != ref {
				t.Errorf("validJSON(%q) = %v, json.Valid = %v", in, got, ref)
			}
		}
	}
}

// TestValidJSONRandom compares against json.Valid on random documents, half
// of them mutated by one edit, so that plain `go test` already checks many
// near-valid inputs without waiting for the fuzzer.
func TestValidJSONRandom(t *testing.T) {
	frags := []string{
		"{", "}", "[", "]", ",", ":", " ", "\n", "\v", `"`, `\`, `\u`, `\uD83D`, `\x`,
		"\x00", "\x1f", "\xff", "0", "-", "+", ".", "e", "01", "1.", "tru", "nul",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var gen func(buf []byte, depth int) []byte
	gen = func(buf []byte, depth int) []byte {
		ws := func(buf []byte) []byte {
			return append(buf, " \t\n\r"[:rng.IntN(3)]...)
		}
		buf = ws(buf)
		k := rng.IntN(9)
		if depth > 4 {
			k = 2 + k%7
		}
		switch k {
		case 0:
			buf = append(buf, '[')
			for n := range rng.IntN(4) {
				if n > 0 {
					buf = append(buf, ',')
				}
				buf = gen(buf, depth+1)
			}
			buf = append(ws(buf), ']')
		case 1:
			buf = append(buf, '{')
			for n := range rng.IntN(4) {
				if n > 0 {
					buf = append(buf, ',')
				}
				buf = append(ws(buf), fmt.Sprintf(`"k%d"`, rng.IntN(1e6))...)
				buf = gen(append(ws(buf), ':'), depth+1)
			}
			buf = append(ws(buf), '}')
		case 2, 3:
			strs := []string{`""`, `"a"`, `"1234567"`, `"12345678"`, `"abc\"def\\gh\/"`,
				`"\b\f\n\r\t"`, `"\u00e9\uD83D\uDE00x"`, "\"h\xc3\xa9llo \xff\"", `"long string of plain text"`}
			buf = append(buf, strs[rng.IntN(len(strs))]...)
		case 4, 5:
			nums := []string{"0", "-0", "7", "-12", "3.25", "0.5", "1e9", "1E+2", "-4.5e-06", "123456789"}
			buf = append(buf, nums[rng.IntN(len(nums))]...)
		default:
			buf = append(buf, []string{"true", "false", "null"}[rng.IntN(3)]...)
		}
		return ws(buf)
	}
	valid := 0
	for range 100_000 {
		in := gen(nil, 0)
		if rng.IntN(2) == 0 && len(in) > 0 {
			// One edit: delete a byte, or insert or overwrite with a fragment.
			p := rng.IntN(len(in))
			f := frags[rng.IntN(len(frags))]
			switch rng.IntN(3) {
			case 0:
				in = append(in[:p:p], in[p+1:]...)
			case 1:
				in = append(in[:p:p], append([]byte(f), in[p:]...)...)
			default:
				in = append(in[:p:p], append([]byte(f), in[min(p+len(f), len(in)):]...)...)
			}
		}
		got, ref := validJSON(in), json.Valid(in)
		if got != ref {
			t.Fatalf("validJSON(%q) = %v, json.Valid = %v", in, got, ref)
		}
		if ref {
			valid++
		}
	}
	if valid < 50_000 || valid > 90_000 {
		t.Errorf("%d of 100000 random inputs valid; the generator has drifted", valid)
	}
}

func TestValidJSONNoAlloc(t *testing.T) {
	compact, pretty := benchJSON()
	deep := []byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000))
	for _, in := range [][]byte{compact, pretty, deep} {
		if n := testing.AllocsPerRun(10, func() { validJSON(in) }); n != 0 {
			t.Errorf("validJSON allocates %v times", n)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, tc := range validJSONCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, ref := validJSON(b), json.Valid(b); got != ref {
			t.Errorf("validJSON(%q) = %v, json.Valid = %v", b, got, ref)
		}
	})
}

// benchJSON returns a ~100 KB array of objects shaped like a typical
// provider listing, compact and indented.
func benchJSON() (compact, pretty []byte) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := 0; buf.Len() < 100<<10; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"id":%d,"name":"item-%06d","active":%t,"score":%g,"tags":["a","b"]}`,
			i, i, i%3 != 0, float64(i%1000)/8)
	}
	buf.WriteByte(']')
	compact = buf.Bytes()
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		panic(err)
	}
	return compact, out.Bytes()
}

func BenchmarkValidJSON(b *testing.B) {
	compact, pretty := benchJSON()
	for _, in := range []struct {
		name string
		data []byte
	}{{"compact", compact}, {"pretty", pretty}} {
		for _, fn := range []struct {
			name  string
			valid func([]byte) bool
		}{{"validJSON", validJSON}, {"encoding-json", json.Valid}} {
			b.Run(fn.name+"/"+in.name, func(b *testing.B) {
				b.SetBytes(int64(len(in.data)))
				for b.Loop() {
					if !fn.valid(in.data) {
						b.Fatal("invalid")
					}
				}
			})
		}
	}
}
