package schema

import (
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzLoadSchema: any schema.json either loads or fails with an error
// naming the file; it never panics. Run longer with:
//
//	go test -run '^$' -fuzz FuzzLoadSchema -fuzztime 10m ./caddymodule/internal/schema/
func FuzzLoadSchema(f *testing.F) {
	f.Add([]byte(calendarSchema))
	f.Add([]byte(`{"authentications": [{"authenticationType": "passport", "authKey": "k"}], "authenticatedApis": [{"name": "a", "url": "https://h/{param.x}?q={param.y}", "method": "GET", "authenticationKey": "k", "headers": {"Authorization": "Bearer {authorization.k.token}"}, "body": {"a": [1]}}]}`))
	f.Add([]byte(`{"a": 1, "A": 2}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`))
	f.Add([]byte(`{"passport": {"filePath": "../../etc/passwd"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{"schema.json": {Data: data}}
		w, err := LoadFS("w", "pkg", fsys, Options{})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "pkg/schema.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, api := range w.APIs {
			if api.URL == nil || api.Auth == nil {
				t.Fatalf("loaded API %q is incomplete", api.Name)
			}
		}
	})
}
