package urltemplate

import (
	"errors"
	"strings"
	"testing"
)

func mustParse(t *testing.T, raw string) *URL {
	t.Helper()
	u, err := ParseURL(raw, ParseOptions{AllowHTTP: true})
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", raw, err)
	}
	return u
}

func TestRender(t *testing.T) {
	const users = "https://api.example.com/users/{param.userId}/posts?page={param.page}"
	tests := []struct {
		name     string
		template string
		params   map[string]string
		user     string
		want     string
	}{
		{"seed example", users, map[string]string{"userId": "42", "page": "2"}, "",
			"https://api.example.com/users/42/posts?page=2"},
		{"no params", "https://www.googleapis.com/calendar/v3/calendars/primary/events", nil, "",
			"https://www.googleapis.com/calendar/v3/calendars/primary/events"},
		{"extra params appended sorted by name", "https://www.googleapis.com/calendar/v3/calendars/primary/events",
			map[string]string{"singleEvents": "true", "orderBy": "startTime", "maxResults": "10"}, "",
			"https://www.googleapis.com/calendar/v3/calendars/primary/events?maxResults=10&orderBy=startTime&singleEvents=true"},
		{"template pairs first, then extras", "https://h.example/p?b={param.b}&fixed=1",
			map[string]string{"b": "x", "a": "y", "c": "z"}, "",
			"https://h.example/p?b=x&fixed=1&a=y&c=z"},
		{"path value escaped as one segment", users, map[string]string{"userId": "a b?c#d&e=f+g;h%i", "page": "1"}, "",
			"https://api.example.com/users/a%20b%3Fc%23d%26e%3Df%2Bg%3Bh%25i/posts?page=1"},
		{"query value cannot add keys", users, map[string]string{"userId": "1", "page": "2&admin=true#x"}, "",
			"https://api.example.com/users/1/posts?page=2%26admin%3Dtrue%23x"},
		{"space and plus percent-encoded in query", users, map[string]string{"userId": "1", "page": "a b+c"}, "",
			"https://api.example.com/users/1/posts?page=a%20b%2Bc"},
		{"extra param name escaped", "https://h.example/p", map[string]string{"a&b=c": "v"}, "",
			"https://h.example/p?a%26b%3Dc=v"},
		{"OData and ISO 8601 stay readable", "https://graph.microsoft.com/v1.0/me/calendarview?startDateTime={param.startDate}",
			map[string]string{"startDate": "2026-11-23T10:00:00.000Z", "$top": "5"}, "",
			"https://graph.microsoft.com/v1.0/me/calendarview?startDateTime=2026-11-23T10:00:00.000Z&$top=5"},
		{"template variables in values are data", users, map[string]string{"userId": "{env.HOME}", "page": "{authorization.k.token}"}, "",
			"https://api.example.com/users/%7Benv.HOME%7D/posts?page=%7Bauthorization.k.token%7D"},
		{"encoded dots are escaped, not decoded", users, map[string]string{"userId": "%zz", "page": "1"}, "",
			"https://api.example.com/users/%25zz/posts?page=1"},
		{"three dots is an ordinary segment", users, map[string]string{"userId": "...", "page": "1"}, "",
			"https://api.example.com/users/.../posts?page=1"},
		{"an ellipsis is three dots, an ordinary segment", users, map[string]string{"userId": "\u2026", "page": "1"}, "",
			"https://api.example.com/users/%E2%80%A6/posts?page=1"},
		{"a fraction is not a slash", users, map[string]string{"userId": "\u00bd", "page": "1"}, "",
			"https://api.example.com/users/%C2%BD/posts?page=1"},
		{"fullwidth letters are letters", users, map[string]string{"userId": "\uff21\uff22", "page": "1"}, "",
			"https://api.example.com/users/%EF%BC%A1%EF%BC%A2/posts?page=1"},
		{"unicode escaped as UTF-8", users, map[string]string{"userId": "zoë", "page": "日本"}, "",
			"https://api.example.com/users/zo%C3%AB/posts?page=%E6%97%A5%E6%9C%AC"},
		{"user id in path", "https://h.example/users/{user.id}/events", nil, "u-7",
			"https://h.example/users/u-7/events"},
		{"mixed segment", "https://h.example/files/{param.id}.json", map[string]string{"id": "a"}, "",
			"https://h.example/files/a.json"},
		{"port kept", "http://127.0.0.1:8931/v1/data", map[string]string{"q": "1"}, "",
			"http://127.0.0.1:8931/v1/data?q=1"},
		{"flag without '=' kept", "https://h.example/p?flag&a={param.a}", map[string]string{"a": "1"}, "",
			"https://h.example/p?flag&a=1"},
		{"empty query value allowed", users, map[string]string{"userId": "1", "page": ""}, "",
			"https://api.example.com/users/1/posts?page="},
		{"extras near a fixed key are not shadows", "https://h.example/p?maxResults=3&$top=5&page[size]=2",
			map[string]string{"top": "1", "maxResults2": "1", "page[number]": "4", "xmaxResults": "1"}, "",
			"https://h.example/p?maxResults=3&$top=5&page[size]=2&maxResults2=1&page%5Bnumber%5D=4&top=1&xmaxResults=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustParse(t, tc.template).Render(tc.params, tc.user)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got != tc.want {
				t.Errorf("Render\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestRenderRejects(t *testing.T) {
	const users = "https://api.example.com/users/{param.userId}/posts?page={param.page}"
	const fixed = "https://graph.example/v1/events?maxResults=3&$top=5"
	tests := []struct {
		name      string
		template  string
		params    map[string]string
		user      string
		wantCode  string
		wantParam string
	}{
		{"missing path param", users, map[string]string{"page": "1"}, "", CodeMissingParam, "userId"},
		{"missing query param", users, map[string]string{"userId": "1"}, "", CodeMissingParam, "page"},
		{"missing user", "https://h.example/u/{user.id}", nil, "", CodeMissingParam, "user.id"},
		{"empty segment", users, map[string]string{"userId": "", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"dot", users, map[string]string{"userId": ".", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"dot dot", users, map[string]string{"userId": "..", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"slash", users, map[string]string{"userId": "a/b", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"backslash", users, map[string]string{"userId": `a\b`, "page": "1"}, "", CodeInvalidParam, "userId"},
		{"fullwidth slash", users, map[string]string{"userId": "a／b", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"fullwidth backslash", users, map[string]string{"userId": "a＼b", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"encoded slash", users, map[string]string{"userId": "a%2Fb", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"encoded dots", users, map[string]string{"userId": "%2e%2e", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"double-encoded dots", users, map[string]string{"userId": "%252e%252e", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"double-encoded slash", users, map[string]string{"userId": "%252F", "page": "1"}, "", CodeInvalidParam, "userId"},
		// Lenient decoders (nginx, PHP) decode the well-formed escapes and keep
		// the rest; url.PathUnescape would refuse the whole string.
		{"encoded slash after a broken escape", users, map[string]string{"userId": "%zz%2F", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"fullwidth dots", users, map[string]string{"userId": "．．", "page": "1"}, "", CodeInvalidParam, "userId"},
		// Values whose NFKC form (what a server that normalises Unicode sees)
		// is a dot segment or holds a separator.
		{"two dot leader", users, map[string]string{"userId": "\u2025", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"vertical two dot leader", users, map[string]string{"userId": "\ufe30", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"small reverse solidus", users, map[string]string{"userId": "a\ufe68b", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"one dot leader", users, map[string]string{"userId": "\u2024", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"small full stop twice", users, map[string]string{"userId": "\ufe52\ufe52", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"fullwidth and ASCII dot", users, map[string]string{"userId": "\uff0e.", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"account of (a/c)", users, map[string]string{"userId": "\u2100", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"care of (c/o)", users, map[string]string{"userId": "x\u2105", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"division slash", users, map[string]string{"userId": "a\u2215b", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"reverse solidus operator", users, map[string]string{"userId": "a\u29f5b", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"encoded two dot leader", users, map[string]string{"userId": "%E2%80%A5", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"double-encoded small reverse solidus", users, map[string]string{"userId": "%25EF%25B9%25A8", "page": "1"}, "", CodeInvalidParam, "userId"},
		// NFKC first, then percent-decoding: fullwidth "%2F" is "%2F", then "/".
		{"fullwidth percent-encoded slash", users, map[string]string{"userId": "a\uff05\uff12\uff26b", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"fullwidth percent-encoded dots", users, map[string]string{"userId": "\uff05\uff12\uff45\uff05\uff12\uff45", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"two params spell dot dot", "https://h.example/{param.a}{param.b}/x", map[string]string{"a": ".", "b": "."}, "", CodeInvalidParam, "a"},
		// Each alone is harmless; together they are "%2e." once decoded, ".."
		// to a server that decodes twice.
		{"two params spell an encoded dot dot", "https://h.example/{param.a}{param.b}/x", map[string]string{"a": "%2", "b": "e."}, "", CodeInvalidParam, "a"},
		{"param and literal spell dot dot", "https://h.example/{param.a}./x", map[string]string{"a": "\uff0e"}, "", CodeInvalidParam, "a"},
		{"CR LF in query", users, map[string]string{"userId": "1", "page": "1\r\nX-Evil: 1"}, "", CodeInvalidParam, "page"},
		{"NUL", users, map[string]string{"userId": "1\x00", "page": "1"}, "", CodeInvalidParam, "userId"},
		{"DEL", users, map[string]string{"userId": "1", "page": "\x7f"}, "", CodeInvalidParam, "page"},
		{"C1 control", users, map[string]string{"userId": "1", "page": "\u0085"}, "", CodeInvalidParam, "page"},
		{"invalid UTF-8", users, map[string]string{"userId": "1", "page": "\xff"}, "", CodeInvalidParam, "page"},
		{"control char in extra param", users, map[string]string{"userId": "1", "page": "1", "x": "\n"}, "", CodeInvalidParam, "x"},
		{"extra overrides fixed key", "https://h.example/p?alt=json", map[string]string{"alt": "media"}, "", CodeInvalidParam, "alt"},
		{"extra overrides escaped fixed key", "https://h.example/p?%24top=5", map[string]string{"$top": "500"}, "", CodeInvalidParam, "$top"},
		// Lenient providers (PHP, ASP.NET, OData, many frameworks) read query
		// keys case-insensitively, decode them, and treat "k[]" as "k".
		{"shadow fixed key in upper case", fixed, map[string]string{"MAXRESULTS": "500"}, "", CodeInvalidParam, "MAXRESULTS"},
		{"shadow fixed key in lower case", fixed, map[string]string{"maxresults": "500"}, "", CodeInvalidParam, "maxresults"},
		{"shadow $top in upper case", fixed, map[string]string{"$TOP": "500"}, "", CodeInvalidParam, "$TOP"},
		{"shadow fixed key with []", fixed, map[string]string{"maxResults[]": "500"}, "", CodeInvalidParam, "maxResults[]"},
		{"shadow fixed key with [][]", fixed, map[string]string{"maxResults[][]": "500"}, "", CodeInvalidParam, "maxResults[][]"},
		{"shadow fixed key with encoded []", fixed, map[string]string{"maxResults%5B%5D": "500"}, "", CodeInvalidParam, "maxResults%5B%5D"},
		{"shadow fixed key with lower-case encoded []", fixed, map[string]string{"$top%5b%5d": "500"}, "", CodeInvalidParam, "$top%5b%5d"},
		{"shadow fixed key percent-encoded", fixed, map[string]string{"max%52esults": "500"}, "", CodeInvalidParam, "max%52esults"},
		{"shadow fixed key percent-encoded, other case", fixed, map[string]string{"%4dAX%72esults": "500"}, "", CodeInvalidParam, "%4dAX%72esults"},
		{"shadow fixed key double-encoded", fixed, map[string]string{"%2524top": "500"}, "", CodeInvalidParam, "%2524top"},
		{"shadow $top encoded, upper case", fixed, map[string]string{"%24TOP[]": "500"}, "", CodeInvalidParam, "%24TOP[]"},
		{"shadow a key the template writes escaped", "https://h.example/p?%24top=5", map[string]string{"$TOP": "500"}, "", CodeInvalidParam, "$TOP"},
		{"shadow a key the template writes with []", "https://h.example/p?ids[]=1", map[string]string{"IDS": "2"}, "", CodeInvalidParam, "IDS"},
		{"shadow a param-filled key", users, map[string]string{"userId": "1", "page": "1", "Page": "99999"}, "", CodeInvalidParam, "Page"},
		// Unicode case folding: the Kelvin sign folds to k, long s to s.
		{"shadow with a Unicode fold", "https://h.example/p?kind=a&sort=b", map[string]string{"\u212aind": "x"}, "", CodeInvalidParam, "\u212aind"},
		// "+" is a space to a form decoder, and PHP reads spaces and dots in
		// a key as "_".
		{"shadow an underscore key with a dot", "https://h.example/p?max_results=3", map[string]string{"max.results": "500"}, "", CodeInvalidParam, "max.results"},
		{"shadow an underscore key with a space", "https://h.example/p?max_results=3", map[string]string{"max results": "500"}, "", CodeInvalidParam, "max results"},
		{"shadow an underscore key with a plus", "https://h.example/p?max_results=3", map[string]string{"max+results": "500"}, "", CodeInvalidParam, "max+results"},
		{"user id with CRLF", "https://h.example/u/{user.id}", nil, "a\r\nb", CodeInvalidParam, "user.id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustParse(t, tc.template).Render(tc.params, tc.user)
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("Render = %q, %v; want a *ParamError", got, err)
			}
			if pe.Code != tc.wantCode || pe.Param != tc.wantParam {
				t.Errorf("got %s on %q, want %s on %q (%v)", pe.Code, pe.Param, tc.wantCode, tc.wantParam, err)
			}
			for _, v := range tc.params {
				if v != "" && len(v) > 2 && strings.Contains(err.Error(), v) {
					t.Errorf("error %q echoes the hostile value", err)
				}
			}
		})
	}
}

func TestParseURLRejects(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"unknown variable", "https://h.example/{env.HOME}", "unknown template variable"},
		{"typo in param", "https://h.example/{params.id}", "unknown template variable"},
		{"empty param name", "https://h.example/{param.}", "param name"},
		{"unclosed brace", "https://h.example/{param.id", "unclosed"},
		{"stray close brace", "https://h.example/a}", "unmatched"},
		{"param in host", "https://{param.tenant}.example.com/x", "host"},
		{"param in port", "https://h.example:{param.port}/x", "host"},
		{"param in query key", "https://h.example/x?{param.k}=1", "literal"},
		{"token in url", "https://h.example/x?access_token={authorization.k.token}", "not allowed"},
		{"relative", "/calendar/v3", "absolute"},
		{"plain http refused by default", "http://h.example/x", "https"},
		{"other scheme", "file://h.example/etc/passwd", "scheme"},
		{"fragment", "https://h.example/x#frag", "fragment"},
		{"user info", "https://user:pass@h.example/x", "user info"},
		{"dot segment", "https://h.example/a/../b", "dot segments"},
		{"whitespace", "https://h.example/a b", "whitespace"},
		{"CRLF", "https://h.example/a\r\n", "control"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseURL(tc.raw, ParseOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseURL(%q) = %v, want an error mentioning %q", tc.raw, err, tc.want)
			}
		})
	}
}

func TestHeaderValue(t *testing.T) {
	tests := []struct {
		raw, token, user, want string
	}{
		{"Bearer {authorization.googleCalAuth.token}", "tok", "", "Bearer tok"},
		{"application/json", "tok", "", "application/json"},
		{"{user.id}", "tok", "u1", "u1"},
		{"Token {authorization.k.token} for {user.id}", "tok", "u1", "Token tok for u1"},
	}
	for _, tc := range tests {
		v, err := ParseValue(tc.raw)
		if err != nil {
			t.Fatalf("ParseValue(%q): %v", tc.raw, err)
		}
		got, err := v.Render(tc.token, tc.user)
		if err != nil || got != tc.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
	for _, bad := range []string{"{param.x}", "{authorization.k}", "{authorization..token}", "a\r\nb", "{nope}"} {
		if _, err := ParseValue(bad); err == nil {
			t.Errorf("ParseValue(%q) accepted a value it must reject", bad)
		}
	}
	v, _ := ParseValue("{user.id}")
	if _, err := v.Render("tok", ""); err == nil {
		t.Error("{user.id} rendered without a user id")
	}
}

func BenchmarkRender(b *testing.B) {
	u, _ := ParseURL("https://www.googleapis.com/calendar/v3/calendars/{param.cal}/events?orderBy=startTime", ParseOptions{})
	params := map[string]string{"cal": "primary", "maxResults": "10", "singleEvents": "true"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := u.Render(params, ""); err != nil {
			b.Fatal(err)
		}
	}
}
