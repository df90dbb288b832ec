package upstream

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestSecretsMaskEveryForm(t *testing.T) {
	s := NewSecrets("tok/one", "", "tok/one", "two")
	cases := []struct{ in, want string }{
		{"Bearer tok/one", "Bearer " + Redacted},
		{`{"a":"tok\/one"}`, `{"a":"` + Redacted + `"}`},
		{fmt.Sprintf("line %q", `tok\/one`), `line "` + Redacted + `"`},
		{"old two, new tok/one", "old " + Redacted + ", new " + Redacted},
		{"nothing here", "nothing here"},
	}
	for _, tc := range cases {
		if got := s.MaskString(tc.in); got != tc.want {
			t.Errorf("MaskString(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := string(s.maskBytes([]byte(tc.in))); got != tc.want {
			t.Errorf("maskBytes(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if s.In(tc.in) != (tc.in != tc.want) {
			t.Errorf("In(%q) = %v", tc.in, s.In(tc.in))
		}
	}
	var out bytes.Buffer
	w := s.writer(&out)
	for _, chunk := range []string{"a tok/o", "ne b t", "wo c tok\\/one"} {
		if err := w.write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); strings.Contains(got, "tok") || strings.Contains(got, "two") || len(got) != len("a tok/one b two c tok\\/one") {
		t.Errorf("stream masked to %q", got)
	}
	var none *Secrets
	if none.MaskString("tok/one") != "tok/one" || none.In("x") {
		t.Error("nil Secrets must mask nothing")
	}
}

func TestDecodeBody(t *testing.T) {
	plain := []byte(`{"token":"secret"}`)
	var gz, zl bytes.Buffer
	g := gzip.NewWriter(&gz)
	g.Write(plain)
	g.Close()
	z := zlib.NewWriter(&zl)
	z.Write(plain)
	z.Close()
	cases := []struct {
		encoding string
		body     []byte
		want     []byte
		err      error
	}{
		{"", plain, plain, nil},
		{"identity", plain, plain, nil},
		{"gzip", gz.Bytes(), plain, nil},
		{"X-GZIP", gz.Bytes(), plain, nil},
		{"deflate", zl.Bytes(), plain, nil},
		{"gzip", nil, nil, nil}, // an empty body with the header: empty
		{"br", []byte{1, 2, 3}, nil, ErrEncoding},
		{"gzip, gzip", gz.Bytes(), nil, ErrEncoding},
	}
	for _, tc := range cases {
		resp := &http.Response{Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(tc.body)), ContentLength: int64(len(tc.body))}
		if tc.encoding != "" {
			resp.Header.Set("Content-Encoding", tc.encoding)
		}
		err := decodeBody(resp)
		if !errors.Is(err, tc.err) {
			t.Errorf("%q: error %v, want %v", tc.encoding, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		got, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%q: body %q (%v), want %q", tc.encoding, got, err, tc.want)
		}
		if tc.encoding != "" && tc.encoding != "identity" && (resp.Header.Get("Content-Encoding") != "" || resp.ContentLength != -1) {
			t.Errorf("%q: Content-Encoding and length must go with the encoding", tc.encoding)
		}
	}
}
