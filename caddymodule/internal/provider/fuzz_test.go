package provider

import (
	"strings"
	"testing"
)

// FuzzParseCustom: any passport JSON either parses or fails with errors
// naming the file, never panics, and never echoes the client secret. Run
// longer with:
//
//	go test -run '^$' -fuzz FuzzParseCustom -fuzztime 10m ./caddymodule/internal/provider/
func FuzzParseCustom(f *testing.F) {
	const secret = "s3cr3t-Fuzz-Value"
	f.Add([]byte(`{"name":"My API Connector","applicationName":"custom","authenticationType":"OAuth","isCustomApplication":true,"customApplicationInfo":{"name":"my-api-connector","displayName":"My API Connector","description":"d","categoryType":"Custom","authenticationType":"OAuth","parentName":"custom","metadata":{"clientId":"id","clientSecret":"` + secret + `","authenticationUrl":"https://a.example/authorize","tokenUrl":"https://a.example/token","profileAccountEmailPath":"$.email","refreshType":"before_expiry","refreshValue":30}},"metadata":{}}`))
	f.Add([]byte(`{"customApplicationInfo": {"metadata": {"clientSecret": "` + secret + `", "tokenUrl": "ftp://x"}}}`))
	f.Add([]byte(`{"a": 1, "a": 2}`))
	f.Add([]byte(`{"customApplicationInfo": {"metadata": {"profileAccountIdPath": "$[?(@!=$.b)]"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseCustom("passport/x.json", data)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "passport/x.json") {
					t.Fatalf("error line does not name the file: %q", line)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error echoes the client secret: %v", err)
			}
			return
		}
		if !strings.HasPrefix(p.Name, "custom:") {
			t.Fatalf("provider name %q", p.Name)
		}
	})
}
