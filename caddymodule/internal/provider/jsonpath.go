package provider

import (
	"errors"
	"fmt"
	"strings"
)

// checkJSONPath validates a profile JSONPath expression ("$.email",
// "$.emails[0]", "$.data['display-name']", "$..id",
// "$.emails[?(@.primary==true)].value").
//
// It accepts a conservative subset of the syntax that
// github.com/ohler55/ojg/jp parses (every expression accepted here parses
// there), so that a passport is refused at load time rather than failing
// when a profile is read. ojg is not yet a dependency of this module; once
// it is, this can defer to jp.ParseString after the "$" check.
//
// The subset: "$" followed by segments, each one of
//
//	.name   .*   ..name   ..*   ..[...]   [...]
//
// where name is ASCII letters, digits and '_' (or any non-ASCII rune; other
// names go in brackets), and a bracket holds '*', an integer index, a slice
// (start:end:step, each optional), a comma-separated union of quoted names
// and integers, or a filter "?(...)" of comparisons joined by && and ||.
// Whitespace is allowed only inside quoted names and filters.
func checkJSONPath(s string) error {
	if s == "" {
		return errors.New("empty JSONPath")
	}
	if s[0] != '$' {
		return errors.New(`a JSONPath must start with "$"`)
	}
	p := pathParser{s: s, pos: 1}
	for p.pos < len(s) {
		if err := p.segment(); err != nil {
			return err
		}
	}
	return nil
}

type pathParser struct {
	s   string
	pos int
}

func (p *pathParser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSONPath at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

// peek returns the byte at pos, or 0 at the end (0 is never valid syntax).
func (p *pathParser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *pathParser) segment() error {
	switch p.peek() {
	case '[':
		return p.bracket()
	case '.':
		p.pos++
		if p.peek() == '.' { // recursive descent
			p.pos++
			switch p.peek() {
			case '*':
				p.pos++
				return nil
			case '[':
				return p.bracket()
			}
			return p.name()
		}
		if p.peek() == '*' {
			p.pos++
			return nil
		}
		return p.name()
	}
	return p.errorf("expected '.' or '[', got %q", p.peek())
}

// isNameByte reports whether b may appear in a dot-notation name. ojg ends
// such names at most punctuation, including '-', so those need brackets.
func isNameByte(b byte) bool {
	return b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || b >= 0x80
}

func (p *pathParser) name() error {
	start := p.pos
	for p.pos < len(p.s) && isNameByte(p.s[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		if p.pos >= len(p.s) {
			return p.errorf("expected a name after '.'")
		}
		return p.errorf("expected a name after '.', got %q (quote such names: ['name'])", p.s[p.pos])
	}
	if b := p.peek(); b != 0 && strings.IndexByte("#%;?^{|}~", b) >= 0 {
		// ojg would take these as part of the name ("a||b" is one name to
		// it), so they cannot follow one unquoted.
		return p.errorf("%q cannot follow a name; quote the name (['name']) or add a space", b)
	}
	return nil
}

func (p *pathParser) bracket() error {
	p.pos++ // '['
	switch b := p.peek(); {
	case b == '*':
		p.pos++
	case b == '?':
		p.pos++
		if err := p.filter(); err != nil {
			return err
		}
	case b == '\'' || b == '"' || b == '-' || '0' <= b && b <= '9' || b == ':':
		if err := p.selectors(); err != nil {
			return err
		}
	case b == 0:
		return p.errorf("unterminated '['")
	default:
		return p.errorf("unexpected %q in brackets", b)
	}
	if p.peek() != ']' {
		return p.errorf("expected ']'")
	}
	p.pos++
	return nil
}

// selectors parses a slice, or a union of quoted names and integers (a
// single index or name being a union of one).
func (p *pathParser) selectors() error {
	if p.peek() != '\'' && p.peek() != '"' {
		// An integer first may start a slice.
		if p.peek() != ':' {
			if err := p.integer(); err != nil {
				return err
			}
		}
		if p.peek() == ':' {
			return p.slice()
		}
	} else if err := p.quoted(); err != nil {
		return err
	}
	for p.peek() == ',' {
		p.pos++
		switch b := p.peek(); {
		case b == '\'' || b == '"':
			if err := p.quoted(); err != nil {
				return err
			}
		case b == '-' || '0' <= b && b <= '9':
			if err := p.integer(); err != nil {
				return err
			}
		default:
			return p.errorf("expected a quoted name or an integer after ','")
		}
	}
	return nil
}

// slice parses the rest of start:end:step after start; pos is at ':'.
func (p *pathParser) slice() error {
	for range 2 {
		if p.peek() != ':' {
			return nil
		}
		p.pos++
		if b := p.peek(); b == '-' || '0' <= b && b <= '9' {
			if err := p.integer(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *pathParser) integer() error {
	if p.peek() == '-' {
		p.pos++
	}
	start := p.pos
	for '0' <= p.peek() && p.peek() <= '9' {
		p.pos++
	}
	if p.pos == start {
		return p.errorf("expected a number")
	}
	if p.pos-start > 9 { // keeps the index within an int on every platform
		return p.errorf("index too large")
	}
	return nil
}

func (p *pathParser) quoted() error {
	q := p.s[p.pos]
	p.pos++
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case '\\':
			// Only the escapes ojg decodes without further syntax.
			if p.pos+1 >= len(p.s) || !strings.ContainsRune(`'"\\btnfr`, rune(p.s[p.pos+1])) {
				return p.errorf("unsupported escape in a quoted name")
			}
			p.pos += 2
			continue
		case q:
			p.pos++
			return nil
		}
		if p.s[p.pos] < ' ' {
			return p.errorf("control character in a quoted name")
		}
		p.pos++
	}
	return p.errorf("unterminated quoted name")
}

// filter parses "?(expr)", pos at '('. The expression grammar is a small
// subset of ojg's:
//
//	expr    = operand { op operand }
//	op      = "==" | "!=" | "<=" | ">=" | "<" | ">" | "&&" | "||"
//	operand = "@" segments | "$" segments | number | quoted | "true" | "false" | "null" | "(" expr ")"
func (p *pathParser) filter() error {
	if p.peek() != '(' {
		return p.errorf("expected '(' after '?'")
	}
	p.pos++
	if err := p.expr(); err != nil {
		return err
	}
	p.spaces()
	if p.peek() != ')' {
		return p.errorf("expected ')' to close the filter")
	}
	p.pos++
	return nil
}

func (p *pathParser) spaces() {
	for p.peek() == ' ' {
		p.pos++
	}
}

var filterOps = []string{"==", "!=", "<=", ">=", "&&", "||", "<", ">"}

func (p *pathParser) expr() error {
	for {
		if err := p.operand(); err != nil {
			return err
		}
		p.spaces()
		op := ""
		for _, o := range filterOps {
			if strings.HasPrefix(p.s[p.pos:], o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil
		}
		p.pos += len(op)
	}
}

func (p *pathParser) operand() error {
	p.spaces()
	switch b := p.peek(); {
	case b == '(':
		p.pos++
		if err := p.expr(); err != nil {
			return err
		}
		p.spaces()
		if p.peek() != ')' {
			return p.errorf("expected ')'")
		}
		p.pos++
		return nil
	case b == '@' || b == '$':
		p.pos++
		for p.peek() == '.' || p.peek() == '[' {
			if err := p.segment(); err != nil {
				return err
			}
		}
		return nil
	case b == '\'' || b == '"':
		return p.quoted()
	case b == '-' || '0' <= b && b <= '9':
		if b == '-' && strings.IndexByte("=<>!&|", p.byteAt(p.pos-1)) >= 0 {
			// ojg would read "<-" as one operator.
			return p.errorf("put a space between an operator and a negative number")
		}
		if err := p.integer(); err != nil {
			return err
		}
		if p.peek() == '.' {
			p.pos++
			start := p.pos
			for '0' <= p.peek() && p.peek() <= '9' {
				p.pos++
			}
			if p.pos == start {
				return p.errorf("expected digits after '.'")
			}
		}
		return nil
	}
	for _, word := range []string{"true", "false", "null"} {
		if strings.HasPrefix(p.s[p.pos:], word) && !isNameByte(p.byteAt(p.pos+len(word))) {
			p.pos += len(word)
			return nil
		}
	}
	return p.errorf("expected a value in the filter")
}

// byteAt returns the byte at i, or 0 past the end.
func (p *pathParser) byteAt(i int) byte {
	if i < len(p.s) {
		return p.s[i]
	}
	return 0
}
