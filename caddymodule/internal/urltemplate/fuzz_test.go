package urltemplate

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// FuzzRender: whatever the params, a rendered URL keeps the template's
// scheme, host and port, its number of path segments, and exactly the
// query keys of the template plus one per extra param — or the render
// fails with a *ParamError. Run longer with:
//
//	go test -run '^$' -fuzz FuzzRender -fuzztime 10m ./caddymodule/internal/template/
func FuzzRender(f *testing.F) {
	for _, seed := range [][3]string{
		{"42", "2", "x"}, {"..", "1", ""}, {"%2e%2e", "a&b=c", "k"}, {"a/b", "#", "="},
		{"．．", "+ ", "\r\n"}, {"%252F", "?", "&"}, {"{env.X}", "{user.id}", "{param.a}"},
		{"\xff", "\x00", "\u2028"}, {"", "", ""}, {"@evil.example", "//x", "../"},
		{"\u2025", "1", "FIXED"}, {"a\ufe68b", "1", "Page[]"}, {"\uff05\uff12\uff26", "1", "fi%78ed"},
		{"%zz%2F", "1", "%66ixed%5B%5D"}, {"\ufe30", "1", "fixed[][]"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	tmpl, err := ParseURL("https://api.example.com:8443/users/{param.userId}/posts?page={param.page}&fixed=1", ParseOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, userID, page, extraName string) {
		params := map[string]string{"userId": userID, "page": page}
		if extraName != "" && extraName != "userId" && extraName != "page" {
			params[extraName] = "v"
		}
		out, err := tmpl.Render(params, "")
		if err != nil {
			if _, ok := err.(*ParamError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		u, err := url.Parse(out)
		if err != nil {
			t.Fatalf("rendered %q does not parse: %v", out, err)
		}
		if u.Scheme != "https" || u.Host != "api.example.com:8443" || u.User != nil || u.Fragment != "" {
			t.Fatalf("origin changed: %q", out)
		}
		segs := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
		if len(segs) != 3 || segs[0] != "users" || segs[2] != "posts" {
			t.Fatalf("path shape changed: %q", out)
		}
		// What a server sees once it decodes and normalises Unicode.
		dec, _ := url.PathUnescape(segs[1])
		if n := norm.NFKC.String(dec); n == "." || n == ".." || n == "" || strings.ContainsAny(n, `/\`) {
			t.Fatalf("dot, empty or separated segment once normalised: %q", out)
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			t.Fatalf("query does not parse: %q", out)
		}
		for k := range q {
			if k != "page" && k != "fixed" && (strings.EqualFold(k, "page") || strings.EqualFold(k, "fixed")) {
				t.Fatalf("extra key %q shadows a fixed one: %q", k, out)
			}
		}
		wantKeys := 2 + len(params) - 2
		if len(q) != wantKeys || q.Get("page") != page || q.Get("fixed") != "1" {
			t.Fatalf("query keys changed: %q (params %q)", out, params)
		}
	})
}
