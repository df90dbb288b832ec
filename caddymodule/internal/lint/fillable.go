package lint

import (
	"regexp/syntax"
	"unicode"
)

// fillable reports whether some value could both match pattern (a
// paramPatterns entry, anchored as the schema package anchors it) and be
// accepted where the param lands: any value without control characters
// in a query value; in a path segment also not empty, not "." or "..",
// and without "/" or "\". The rules are applied loosely (percent-encoded
// and look-alike forms, refused by the server, count as fillable), so a
// false answer is certain.
//
// It searches the pattern's compiled program for a path to a match,
// tracking what the value consumed so far is: empty, ".", "..", or
// anything else.
func fillable(pattern string, inPath bool) bool {
	re, err := syntax.Parse(`^(?:`+pattern+`)$`, syntax.Perl)
	if err != nil {
		return true // an error is reported for it
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return true
	}
	const (
		empty = iota
		dot
		dotDot
		other
	)
	type state struct {
		pc   uint32
		seen int
	}
	visited := map[state]bool{}
	stack := []state{{uint32(prog.Start), empty}}
	push := func(s state) {
		if !visited[s] {
			visited[s] = true
			stack = append(stack, s)
		}
	}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		in := &prog.Inst[s.pc]
		switch in.Op {
		case syntax.InstMatch:
			if !inPath || s.seen == other {
				return true
			}
		case syntax.InstAlt, syntax.InstAltMatch:
			push(state{in.Out, s.seen})
			push(state{in.Arg, s.seen})
		case syntax.InstCapture, syntax.InstNop, syntax.InstEmptyWidth:
			// Assertions are taken as holding: looser, never wrong.
			push(state{in.Out, s.seen})
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			hasDot, hasOther := runeKinds(in, inPath)
			if hasOther {
				push(state{in.Out, other})
			}
			if hasDot {
				next := s.seen + 1 // "." then ".." then "...", which is fine
				if s.seen == other {
					next = other
				}
				push(state{in.Out, next})
			}
		}
	}
	return false
}

// runeKinds says whether the runes instruction in matches include '.' and
// a rune other than '.' that a value may contain.
func runeKinds(in *syntax.Inst, inPath bool) (hasDot, hasOther bool) {
	var ranges []rune
	switch in.Op {
	case syntax.InstRune1:
		ranges = []rune{in.Rune[0], in.Rune[0]}
	case syntax.InstRuneAny:
		ranges = []rune{0, unicode.MaxRune}
	case syntax.InstRuneAnyNotNL:
		ranges = []rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}
	default:
		ranges = in.Rune
		if len(ranges) == 1 { // one rune, maybe case-folded: its folds are letters
			ranges = []rune{ranges[0], ranges[0]}
		}
	}
	// Runes no value may hold: control characters (C0, DEL, C1), and in
	// a path segment '/' and '\'. '.' is counted apart.
	refused := [][2]rune{{0, 0x1f}, {0x7f, 0x9f}, {'.', '.'}}
	if inPath {
		refused = append(refused, [2]rune{'/', '/'}, [2]rune{'\\', '\\'})
	}
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if lo <= '.' && '.' <= hi {
			hasDot = true
		}
		n := int64(hi) - int64(lo) + 1
		for _, r := range refused {
			if a, b := max(lo, r[0]), min(hi, r[1]); a <= b {
				n -= int64(b) - int64(a) + 1
			}
		}
		if n > 0 {
			hasOther = true
		}
	}
	return hasDot, hasOther
}
