package provider

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/endpoints"
)

const passportFile = "passport/x.json"

// seedConnector is "OAuth Example — passport/my-api-connector.json" of the
// Appspace widget developer guide.
const seedConnector = `{
  "name": "My API Connector",
  "applicationName": "custom",
  "authenticationType": "OAuth",
  "isCustomApplication": true,
  "customApplicationInfo": {
    "name": "my-api-connector",
    "displayName": "My API Connector",
    "description": "OAuth connector for My API service",
    "categoryType": "Custom",
    "authenticationType": "OAuth",
    "parentName": "custom",
    "metadata": {
      "clientId": "<your-client-id>",
      "clientSecret": "<your-client-secret>",
      "authenticationUrl": "https://api.example.com/oauth/authorize",
      "tokenUrl": "https://api.example.com/oauth/token",
      "profileUrl": "https://api.example.com/api/me",
      "profileAccountEmailPath": "$.email",
      "profileAccountIdPath": "$.id",
      "profileAccountNamePath": "$.name",
      "scope": "read write"
    }
  },
  "metadata": {}
}`

// seedSaaS is "Example 2: passport/my-saas-connector.json" of the Appspace
// widget developer guide.
const seedSaaS = `{
  "name": "My SaaS Platform",
  "applicationName": "custom",
  "authenticationType": "OAuth",
  "isCustomApplication": true,
  "customApplicationInfo": {
    "name": "my-saas-connector",
    "displayName": "My SaaS Platform",
    "description": "OAuth connector for My SaaS Platform API",
    "categoryType": "Custom",
    "authenticationType": "OAuth",
    "parentName": "custom",
    "metadata": {
      "clientId": "your-client-id-here",
      "clientSecret": "your-client-secret-here",
      "authenticationUrl": "https://auth.my-saas.com/oauth/authorize",
      "tokenUrl": "https://auth.my-saas.com/oauth/token",
      "profileUrl": "https://api.my-saas.com/v1/me",
      "profileAccountEmailPath": "$.email",
      "profileAccountIdPath": "$.id",
      "profileAccountNamePath": "$.display_name",
      "scope": "read:data write:data"
    }
  },
  "metadata": {}
}`

// seedSecret is the client secret of seedConnector; no error may repeat it.
const seedSecret = "<your-client-secret>"

// edit returns seedConnector with f applied to its decoded form.
func edit(f func(doc, info, meta map[string]any)) []byte {
	var doc map[string]any
	if err := json.Unmarshal([]byte(seedConnector), &doc); err != nil {
		panic(err)
	}
	info := doc["customApplicationInfo"].(map[string]any)
	f(doc, info, info["metadata"].(map[string]any))
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

// setMeta returns seedConnector with customApplicationInfo.metadata fields
// set (nil deletes).
func setMeta(kv ...any) []byte {
	return edit(func(_, _, meta map[string]any) {
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(meta, kv[i].(string))
			} else {
				meta[kv[i].(string)] = kv[i+1]
			}
		}
	})
}

func TestParseCustomSeedExamples(t *testing.T) {
	p, err := ParseCustom("my-api/passport/my-api-connector.json", []byte(seedConnector))
	if err != nil {
		t.Fatal(err)
	}
	want := &Provider{
		Name: "custom:my-api-connector", DisplayName: "My API Connector", Category: "Custom", Kind: KindOAuth2,
		AuthURL: "https://api.example.com/oauth/authorize", TokenURL: "https://api.example.com/oauth/token",
		AuthStyle: oauth2.AuthStyleAutoDetect, ScopeSeparator: " ", Scopes: []string{"read", "write"}, PKCE: true,
		ProfileURL: "https://api.example.com/api/me", ProfileEmailPath: "$.email", ProfileIDPath: "$.id", ProfileNamePath: "$.name",
		ClientID: "<your-client-id>", ClientSecret: seedSecret,
		Source: "my-api/passport/my-api-connector.json",
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("seed example 1:\n got %+v\nwant %+v", p, want)
	}

	p, err = ParseCustom("my-saas/passport/my-saas-connector.json", []byte(seedSaaS))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "custom:my-saas-connector" || p.ProfileNamePath != "$.display_name" ||
		!reflect.DeepEqual(p.Scopes, []string{"read:data", "write:data"}) || p.ClientSecret != "your-client-secret-here" {
		t.Errorf("seed example 2: %+v", p)
	}
}

func TestParseCustomValid(t *testing.T) {
	tests := []struct {
		name  string
		raw   []byte
		check func(t *testing.T, p *Provider)
	}{
		{"refreshValue 30 is the minimum", setMeta("refreshType", "periodically", "refreshValue", 30), func(t *testing.T, p *Provider) {
			if p.Refresh != (RefreshPolicy{RefreshPeriodically, 30 * time.Minute}) {
				t.Errorf("Refresh = %+v", p.Refresh)
			}
		}},
		{"refreshValue as a string, UI spelling of the type", setMeta("refreshType", "Before Expiry", "refreshValue", "45"), func(t *testing.T, p *Provider) {
			if p.Refresh != (RefreshPolicy{RefreshBeforeExpiry, 45 * time.Minute}) {
				t.Errorf("Refresh = %+v", p.Refresh)
			}
		}},
		{"refreshType beforeExpiry camelCase", setMeta("refreshType", "beforeExpiry", "refreshValue", 60.0), func(t *testing.T, p *Provider) {
			if p.Refresh != (RefreshPolicy{RefreshBeforeExpiry, time.Hour}) {
				t.Errorf("Refresh = %+v", p.Refresh)
			}
		}},
		{"refreshType none without value", setMeta("refreshType", "None", "refreshValue", ""), func(t *testing.T, p *Provider) {
			if p.Refresh != (RefreshPolicy{Type: RefreshNone}) {
				t.Errorf("Refresh = %+v", p.Refresh)
			}
		}},
		{"reference inherits URLs, auth style and params", setMeta("referenceApplicationName", "google", "authenticationUrl", nil, "tokenUrl", nil), func(t *testing.T, p *Provider) {
			if p.AuthURL != endpoints.Google.AuthURL || p.TokenURL != endpoints.Google.TokenURL || p.AuthStyle != oauth2.AuthStyleInParams ||
				p.AuthParams["access_type"] != "offline" || p.AuthParams["prompt"] != "consent" {
				t.Errorf("inherited = %q %q %v %v", p.AuthURL, p.TokenURL, p.AuthStyle, p.AuthParams)
			}
		}},
		{"reference with own URLs keeps them", setMeta("referenceApplicationName", "zoom"), func(t *testing.T, p *Provider) {
			if p.AuthURL != "https://api.example.com/oauth/authorize" || p.TokenURL != "https://api.example.com/oauth/token" || p.AuthStyle != oauth2.AuthStyleInHeader {
				t.Errorf("got %q %q %v", p.AuthURL, p.TokenURL, p.AuthStyle)
			}
		}},
		{"reference to per-instance built-in with own URLs", setMeta("referenceApplicationName", "servicenow"), func(t *testing.T, p *Provider) {
			if p.TokenURL != "https://api.example.com/oauth/token" || p.AuthStyle != oauth2.AuthStyleInParams {
				t.Errorf("got %q %v", p.TokenURL, p.AuthStyle)
			}
		}},
		{"reference supplies the scope separator", setMeta("referenceApplicationName", "slack", "scope", "chat:write, users:read"), func(t *testing.T, p *Provider) {
			if p.ScopeSeparator != "," || !reflect.DeepEqual(p.Scopes, []string{"chat:write", "users:read"}) {
				t.Errorf("separator %q scopes %q", p.ScopeSeparator, p.Scopes)
			}
		}},
		{"own scope separator", setMeta("scopeSeparator", "+", "scope", "a+b++c"), func(t *testing.T, p *Provider) {
			if p.ScopeSeparator != "+" || !reflect.DeepEqual(p.Scopes, []string{"a", "b", "c"}) || p.ScopeString() != "a+b+c" {
				t.Errorf("separator %q scopes %q", p.ScopeSeparator, p.Scopes)
			}
		}},
		{"params mapper as an object", setMeta("authenticationParamsMapper", map[string]any{"client_id": "app_id", "scope": "permissions"}), func(t *testing.T, p *Provider) {
			if !reflect.DeepEqual(p.ParamsMapper, map[string]string{"client_id": "app_id", "scope": "permissions"}) {
				t.Errorf("ParamsMapper = %v", p.ParamsMapper)
			}
		}},
		{"params mapper as a string", setMeta("authenticationParamsMapper", `{"client_id": "app_id"}`), func(t *testing.T, p *Provider) {
			if !reflect.DeepEqual(p.ParamsMapper, map[string]string{"client_id": "app_id"}) {
				t.Errorf("ParamsMapper = %v", p.ParamsMapper)
			}
		}},
		{"params mapper empty string", setMeta("authenticationParamsMapper", " "), func(t *testing.T, p *Provider) {
			if p.ParamsMapper != nil {
				t.Errorf("ParamsMapper = %v", p.ParamsMapper)
			}
		}},
		{"required metadata is split and trimmed", setMeta("requiredAuthenticationMetadata", " tenant_id, ,region ,tenant_id"), func(t *testing.T, p *Provider) {
			if !reflect.DeepEqual(p.RequiredMetadata, []string{"tenant_id", "region"}) {
				t.Errorf("RequiredMetadata = %q", p.RequiredMetadata)
			}
		}},
		{"vault reference secret", setMeta("clientSecret", "vault:widgetgate/providers/custom:my-api-connector#client_secret"), func(t *testing.T, p *Provider) {
			if p.ClientSecret != "" || p.ClientSecretRef != "vault:widgetgate/providers/custom:my-api-connector#client_secret" {
				t.Errorf("secret %q ref %q", p.ClientSecret, p.ClientSecretRef)
			}
			path, field, err := SplitSecretRef(p.ClientSecretRef)
			if err != nil || path != "widgetgate/providers/custom:my-api-connector" || field != "client_secret" {
				t.Errorf("SplitSecretRef = %q %q %v", path, field, err)
			}
		}},
		{"http is fine on loopback", setMeta("authenticationUrl", "http://localhost:9000/authorize", "tokenUrl", "http://127.0.0.1:9000/oauth/token", "profileUrl", "http://[::1]:9000/me"), func(t *testing.T, p *Provider) {
			if p.TokenURL != "http://127.0.0.1:9000/oauth/token" || p.ProfileURL != "http://[::1]:9000/me" {
				t.Errorf("URLs %q %q", p.TokenURL, p.ProfileURL)
			}
		}},
		{"id token profile and defaults", setMeta("extractProfileFromIdToken", true, "defaultProfileAccountEmail", "ops@example.com", "defaultProfileAccountId", "0", "defaultProfileAccountName", "Ops"), func(t *testing.T, p *Provider) {
			if !p.ProfileFromIDToken || p.DefaultEmail != "ops@example.com" || p.DefaultID != "0" || p.DefaultName != "Ops" {
				t.Errorf("%+v", p)
			}
		}},
		{"bracketed JSONPaths", setMeta("profileAccountNamePath", "$.data['display-name']", "profileAccountEmailPath", "$.emails[0].value"), func(t *testing.T, p *Provider) {
			if p.ProfileNamePath != "$.data['display-name']" {
				t.Errorf("ProfileNamePath = %q", p.ProfileNamePath)
			}
		}},
		{"null and empty optional fields are unset", setMeta("profileUrl", "", "scope", nil, "refreshType", "", "refreshValue", ""), func(t *testing.T, p *Provider) {
			if p.ProfileURL != "" || p.Scopes != nil || p.Refresh != (RefreshPolicy{}) {
				t.Errorf("%+v", p)
			}
		}},
		{"explicit nulls", []byte(strings.Replace(seedConnector, `"scope": "read write"`, `"scope": null, "refreshValue": null`, 1)), func(t *testing.T, p *Provider) {
			if p.Scopes != nil {
				t.Errorf("Scopes = %q", p.Scopes)
			}
		}},
		{"empty description", edit(func(_, info, _ map[string]any) { info["description"] = "" }), nil},
		{"top-level metadata may hold anything", edit(func(doc, _, _ map[string]any) { doc["metadata"] = map[string]any{"x": []any{1, "y"}} }), nil},
		{"every category", edit(func(_, info, _ map[string]any) { info["categoryType"] = "Places" }), func(t *testing.T, p *Provider) {
			if p.Category != "Places" {
				t.Errorf("Category = %q", p.Category)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseCustom(passportFile, tc.raw)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

func TestParseCustomInvalid(t *testing.T) {
	del := func(key string) func(doc, info, meta map[string]any) {
		return func(doc, _, _ map[string]any) { delete(doc, key) }
	}
	set := func(key string, v any) func(doc, info, meta map[string]any) {
		return func(doc, _, _ map[string]any) { doc[key] = v }
	}
	delInfo := func(key string) func(doc, info, meta map[string]any) {
		return func(_, info, _ map[string]any) { delete(info, key) }
	}
	setInfo := func(key string, v any) func(doc, info, meta map[string]any) {
		return func(_, info, _ map[string]any) { info[key] = v }
	}
	tests := []struct {
		name  string
		raw   []byte
		field string // JSON path the error must name ("" for the whole document)
		msg   string // text the error must contain
	}{
		// Top level.
		{"name missing", edit(del("name")), "name", "required"},
		{"name empty", edit(set("name", " ")), "name", "must not be empty"},
		{"name not a string", edit(set("name", 7)), "name", "must be a string"},
		{"applicationName missing", edit(del("applicationName")), "applicationName", "required"},
		{"applicationName wrong", edit(set("applicationName", "google")), "applicationName", `must be "custom", got "google"`},
		{"authenticationType missing", edit(del("authenticationType")), "authenticationType", "required"},
		{"authenticationType unsupported", edit(set("authenticationType", "Custom Auth")), "authenticationType", `unsupported authentication type "Custom Auth": only "OAuth" is supported`},
		{"authenticationType wrong case", edit(set("authenticationType", "oauth")), "authenticationType", "unsupported authentication type"},
		{"isCustomApplication missing", edit(del("isCustomApplication")), "isCustomApplication", "required"},
		{"isCustomApplication false", edit(set("isCustomApplication", false)), "isCustomApplication", "must be true"},
		{"isCustomApplication a string", edit(set("isCustomApplication", "true")), "isCustomApplication", "must be true"},
		{"customApplicationInfo missing", edit(del("customApplicationInfo")), "customApplicationInfo", "required"},
		{"customApplicationInfo not an object", edit(set("customApplicationInfo", "x")), "customApplicationInfo", "must be a JSON object"},
		{"metadata missing", edit(del("metadata")), "metadata", "required"},
		{"metadata not an object", edit(set("metadata", []any{})), "metadata", "must be a JSON object"},
		{"unknown top-level field", edit(set("icon", "gear.png")), "icon", "unknown field"},

		// customApplicationInfo.
		{"info.name missing", edit(delInfo("name")), "customApplicationInfo.name", "required"},
		{"info.name with spaces", edit(setInfo("name", "My API")), "customApplicationInfo.name", "not a kebab-case identifier"},
		{"info.name upper case", edit(setInfo("name", "My-Api")), "customApplicationInfo.name", "not a kebab-case identifier"},
		{"info.name double hyphen", edit(setInfo("name", "my--api")), "customApplicationInfo.name", "not a kebab-case identifier"},
		{"info.name trailing hyphen", edit(setInfo("name", "my-api-")), "customApplicationInfo.name", "not a kebab-case identifier"},
		{"info.name with prefix", edit(setInfo("name", "custom:my-api")), "customApplicationInfo.name", `must not include the "custom:" prefix`},
		{"info.name too long", edit(setInfo("name", strings.Repeat("a", 101))), "customApplicationInfo.name", "at most 100"},
		{"displayName missing", edit(delInfo("displayName")), "customApplicationInfo.displayName", "required"},
		{"description missing", edit(delInfo("description")), "customApplicationInfo.description", "required"},
		{"description not a string", edit(setInfo("description", false)), "customApplicationInfo.description", "must be a string"},
		{"categoryType missing", edit(delInfo("categoryType")), "customApplicationInfo.categoryType", "required"},
		{"categoryType unknown", edit(setInfo("categoryType", "Finance")), "customApplicationInfo.categoryType", `"Finance" is not a category`},
		{"categoryType wrong case", edit(setInfo("categoryType", "custom")), "customApplicationInfo.categoryType", "is not a category"},
		{"info.authenticationType missing", edit(delInfo("authenticationType")), "customApplicationInfo.authenticationType", "required"},
		{"info.authenticationType mismatch", edit(setInfo("authenticationType", "OAuth2")), "customApplicationInfo.authenticationType", `must match the top-level authenticationType "OAuth"`},
		{"parentName missing", edit(delInfo("parentName")), "customApplicationInfo.parentName", "required"},
		{"parentName wrong", edit(setInfo("parentName", "google")), "customApplicationInfo.parentName", `must be "custom"`},
		{"info.metadata missing", edit(delInfo("metadata")), "customApplicationInfo.metadata", "required"},
		{"info.metadata not an object", edit(setInfo("metadata", "x")), "customApplicationInfo.metadata", "must be a JSON object"},
		{"unknown info field", edit(setInfo("icon", "x")), "customApplicationInfo.icon", "unknown field"},

		// OAuth metadata: required fields.
		{"clientId missing", setMeta("clientId", nil), "customApplicationInfo.metadata.clientId", "required"},
		{"clientId empty", setMeta("clientId", ""), "customApplicationInfo.metadata.clientId", "must not be empty"},
		{"clientId padded", setMeta("clientId", " abc"), "customApplicationInfo.metadata.clientId", "leading or trailing spaces"},
		{"clientSecret missing", setMeta("clientSecret", nil), "customApplicationInfo.metadata.clientSecret", "required"},
		{"clientSecret padded", setMeta("clientSecret", seedSecret+"\n"), "customApplicationInfo.metadata.clientSecret", "leading or trailing spaces"},
		{"clientSecret not a string", setMeta("clientSecret", 42), "customApplicationInfo.metadata.clientSecret", "must be a string"},
		{"authenticationUrl missing", setMeta("authenticationUrl", nil), "customApplicationInfo.metadata.authenticationUrl", "required"},
		{"tokenUrl missing", setMeta("tokenUrl", nil), "customApplicationInfo.metadata.tokenUrl", "required"},

		// URLs.
		{"tokenUrl plain http", setMeta("tokenUrl", "http://api.example.com/oauth/token"), "customApplicationInfo.metadata.tokenUrl", "must use https"},
		{"authenticationUrl relative", setMeta("authenticationUrl", "/oauth/authorize"), "customApplicationInfo.metadata.authenticationUrl", "must be an absolute URL"},
		{"authenticationUrl other scheme", setMeta("authenticationUrl", "ftp://api.example.com/x"), "customApplicationInfo.metadata.authenticationUrl", `scheme "ftp" is not allowed`},
		{"tokenUrl with credentials", setMeta("tokenUrl", "https://user:pw@api.example.com/token"), "customApplicationInfo.metadata.tokenUrl", "must not contain credentials"},
		{"tokenUrl with fragment", setMeta("tokenUrl", "https://api.example.com/token#x"), "customApplicationInfo.metadata.tokenUrl", "must not have a fragment"},
		{"tokenUrl padded", setMeta("tokenUrl", " https://api.example.com/token"), "customApplicationInfo.metadata.tokenUrl", "leading or trailing spaces"},
		{"profileUrl plain http", setMeta("profileUrl", "http://api.example.com/me"), "customApplicationInfo.metadata.profileUrl", "must use https"},
		{"http on a look-alike host", setMeta("tokenUrl", "http://localhost.example.com/token"), "customApplicationInfo.metadata.tokenUrl", "must use https"},

		// JSONPath.
		{"email path without $", setMeta("profileAccountEmailPath", "email"), "customApplicationInfo.metadata.profileAccountEmailPath", "not a valid JSONPath"},
		{"id path unterminated", setMeta("profileAccountIdPath", "$.data["), "customApplicationInfo.metadata.profileAccountIdPath", "not a valid JSONPath"},
		{"name path with hyphen", setMeta("profileAccountNamePath", "$.display-name"), "customApplicationInfo.metadata.profileAccountNamePath", "not a valid JSONPath"},

		// Refresh.
		{"refreshValue 29", setMeta("refreshType", "periodically", "refreshValue", 29), "customApplicationInfo.metadata.refreshValue", "refreshValue: must be at least 30 minutes"},
		{"refreshValue 29 as a string", setMeta("refreshType", "before_expiry", "refreshValue", "29"), "customApplicationInfo.metadata.refreshValue", "must be at least 30 minutes"},
		{"refreshValue negative", setMeta("refreshType", "before_expiry", "refreshValue", -60), "customApplicationInfo.metadata.refreshValue", "must be at least 30 minutes"},
		{"refreshValue fractional", setMeta("refreshType", "periodically", "refreshValue", 30.5), "customApplicationInfo.metadata.refreshValue", "whole number of minutes"},
		{"refreshValue not numeric", setMeta("refreshType", "periodically", "refreshValue", "half an hour"), "customApplicationInfo.metadata.refreshValue", "must be a number of minutes"},
		{"refreshValue a boolean", setMeta("refreshType", "periodically", "refreshValue", true), "customApplicationInfo.metadata.refreshValue", "must be a number of minutes"},
		{"refreshValue too large", setMeta("refreshType", "periodically", "refreshValue", 1e9), "customApplicationInfo.metadata.refreshValue", "at most"},
		{"refreshType unknown", setMeta("refreshType", "sometimes"), "customApplicationInfo.metadata.refreshType", `unknown refresh type "sometimes"`},
		{"refreshValue required for before_expiry", setMeta("refreshType", "before_expiry"), "customApplicationInfo.metadata.refreshValue", `required when refreshType is "before_expiry"`},
		{"refreshValue required for periodically", setMeta("refreshType", "Periodically"), "customApplicationInfo.metadata.refreshValue", `required when refreshType is "periodically"`},
		{"refreshValue forbidden for none", setMeta("refreshType", "none", "refreshValue", 60), "customApplicationInfo.metadata.refreshValue", `must be omitted when refreshType is "none"`},
		{"refreshValue without refreshType", setMeta("refreshValue", 60), "customApplicationInfo.metadata.refreshValue", "needs refreshType"},

		// Reference.
		{"reference unknown", setMeta("referenceApplicationName", "myspace"), "customApplicationInfo.metadata.referenceApplicationName", `"myspace" is not a built-in provider`},
		{"reference not OAuth", setMeta("referenceApplicationName", "tableau"), "customApplicationInfo.metadata.referenceApplicationName", "not an OAuth built-in"},
		{"reference Appspace", setMeta("referenceApplicationName", "appspace"), "customApplicationInfo.metadata.referenceApplicationName", "not an OAuth built-in"},
		{"reference without fixed URLs", setMeta("referenceApplicationName", "servicenow", "tokenUrl", nil), "customApplicationInfo.metadata.tokenUrl", `referenceApplicationName "servicenow" has no fixed URL`},
		{"reference does not excuse a bad URL", setMeta("referenceApplicationName", "google", "tokenUrl", "http://evil.example/token"), "customApplicationInfo.metadata.tokenUrl", "must use https"},

		// Params mapper, required metadata, flags, separator.
		{"params mapper a number", setMeta("authenticationParamsMapper", 3), "customApplicationInfo.metadata.authenticationParamsMapper", "must be a JSON object"},
		{"params mapper string not JSON", setMeta("authenticationParamsMapper", "client_id=app_id"), "customApplicationInfo.metadata.authenticationParamsMapper", "string is not a JSON object"},
		{"params mapper string holds an array", setMeta("authenticationParamsMapper", `["a"]`), "customApplicationInfo.metadata.authenticationParamsMapper", "must be a JSON object"},
		{"params mapper string with duplicate key", setMeta("authenticationParamsMapper", `{"a":"b","a":"c"}`), "customApplicationInfo.metadata.authenticationParamsMapper", "a: duplicate key"},
		{"params mapper string with trailing data", setMeta("authenticationParamsMapper", `{"a":"b"} x`), "customApplicationInfo.metadata.authenticationParamsMapper", "trailing data"},
		{"params mapper value not a string", setMeta("authenticationParamsMapper", map[string]any{"client_id": 1}), "customApplicationInfo.metadata.authenticationParamsMapper.client_id", "must be a string"},
		{"params mapper empty key", setMeta("authenticationParamsMapper", map[string]any{"": "x"}), "customApplicationInfo.metadata.authenticationParamsMapper", "keys must not be empty"},
		{"required metadata not a string", setMeta("requiredAuthenticationMetadata", []any{"a"}), "customApplicationInfo.metadata.requiredAuthenticationMetadata", "must be a string"},
		{"id token flag not a boolean", setMeta("extractProfileFromIdToken", "yes"), "customApplicationInfo.metadata.extractProfileFromIdToken", "must be true or false"},
		{"scopeSeparator empty", setMeta("scopeSeparator", ""), "customApplicationInfo.metadata.scopeSeparator", "must not be empty"},
		{"scopeSeparator too long", setMeta("scopeSeparator", "----------"), "customApplicationInfo.metadata.scopeSeparator", "at most 8 bytes"},
		{"scopeSeparator control character", setMeta("scopeSeparator", "\n"), "customApplicationInfo.metadata.scopeSeparator", "control characters"},
		{"scope not a string", setMeta("scope", []any{"read"}), "customApplicationInfo.metadata.scope", "must be a string"},

		// Vault references.
		{"vault reference without field", setMeta("clientSecret", "vault:widgetgate/providers/x"), "customApplicationInfo.metadata.clientSecret", "malformed Vault reference"},
		{"vault reference escaping", setMeta("clientSecret", "vault:../sys/x#f"), "customApplicationInfo.metadata.clientSecret", "malformed Vault reference"},
		{"vault reference absolute", setMeta("clientSecret", "vault:/secret/x#f"), "customApplicationInfo.metadata.clientSecret", "malformed Vault reference"},
		{"vault reference with spaces", setMeta("clientSecret", "vault:a b#f"), "customApplicationInfo.metadata.clientSecret", "malformed Vault reference"},

		// Unknown fields in metadata are refused, with a hint for case slips.
		{"misspelt field", setMeta("profileAccountEmailpath", "$.email"), "customApplicationInfo.metadata.profileAccountEmailpath", `unknown field (did you mean "profileAccountEmailPath"?)`},
		{"unknown metadata field", setMeta("audience", "x"), "customApplicationInfo.metadata.audience", "unknown field"},

		// Document structure.
		{"duplicate top-level key", []byte(strings.Replace(seedConnector, `"name": "My API Connector",`, `"name": "My API Connector", "name": "Other",`, 1)), "name", "duplicate key"},
		{"duplicate nested key", []byte(strings.Replace(seedConnector, `"scope": "read write"`, `"scope": "read write", "tokenUrl": "https://evil.example/token"`, 1)), "customApplicationInfo.metadata.tokenUrl", "duplicate key"},
		{"trailing document", []byte(seedConnector + "\n{}"), "", "trailing data after the JSON document"},
		{"trailing garbage", []byte(seedConnector + " x"), "", "trailing data after the JSON document"},
		{"not an object", []byte(`["custom"]`), "", "must be a JSON object"},
		{"truncated", []byte(seedConnector[:len(seedConnector)-5]), "", "invalid JSON"},
		{"syntax error", []byte(`{"name": }`), "", "invalid JSON at byte"},
		{"empty file", nil, "", "invalid JSON"},
		{"nested too deep", []byte(`{"metadata":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`), "metadata" + strings.Repeat("[0]", 31), "nested more than 32 levels deep"},
		{"too large", []byte(`{"name":"` + strings.Repeat("a", MaxPassportSize) + `"}`), "", "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseCustom(passportFile, tc.raw)
			if err == nil {
				t.Fatalf("no error; got %+v", p)
			}
			want := passportFile + ": "
			if tc.field != "" {
				want += tc.field + ": "
			}
			msg := err.Error()
			found := false
			for line := range strings.SplitSeq(msg, "\n") {
				if strings.HasPrefix(line, want) && strings.Contains(line, tc.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("error does not have a line starting %q and containing %q:\n%s", want, tc.msg, msg)
			}
			if strings.Contains(msg, seedSecret) {
				t.Errorf("error repeats the client secret: %s", msg)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.File != passportFile {
				t.Errorf("error is not a *FieldError for %s: %#v", passportFile, err)
			}
		})
	}
}

// Every problem is reported at once, each on its own line naming the file.
func TestParseCustomReportsAll(t *testing.T) {
	raw := edit(func(doc, info, meta map[string]any) {
		delete(doc, "name")
		info["categoryType"] = "Finance"
		delete(meta, "tokenUrl")
		meta["refreshType"] = "periodically"
		meta["refreshValue"] = 10
	})
	_, err := ParseCustom(passportFile, raw)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		passportFile + ": name: required",
		passportFile + ": customApplicationInfo.categoryType: ",
		passportFile + ": customApplicationInfo.metadata.tokenUrl: required",
		passportFile + ": customApplicationInfo.metadata.refreshValue: must be at least 30 minutes",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
}

func TestParseRefreshType(t *testing.T) {
	tests := []struct {
		in   string
		want RefreshType
		ok   bool
	}{
		{"", RefreshUnset, true},
		{"none", RefreshNone, true},
		{"None", RefreshNone, true},
		{"before_expiry", RefreshBeforeExpiry, true},
		{"Before Expiry", RefreshBeforeExpiry, true},
		{"beforeExpiry", RefreshBeforeExpiry, true},
		{"BEFORE_EXPIRY", RefreshBeforeExpiry, true},
		{"periodically", RefreshPeriodically, true},
		{"Periodically", RefreshPeriodically, true},
		{"daily", RefreshUnset, false},
		{"before", RefreshUnset, false},
	}
	for _, tc := range tests {
		got, err := ParseRefreshType(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseRefreshType(%q) = %q, %v", tc.in, got, err)
		}
	}
	var rt struct{ T RefreshType }
	if err := json.Unmarshal([]byte(`{"T":"Before Expiry"}`), &rt); err != nil || rt.T != RefreshBeforeExpiry {
		t.Errorf("UnmarshalText: %q %v", rt.T, err)
	}
	if err := json.Unmarshal([]byte(`{"T":"weekly"}`), &rt); err == nil {
		t.Error("UnmarshalText accepted weekly")
	}
}

func TestSplitSecretRef(t *testing.T) {
	tests := []struct {
		ref, path, field string
		ok               bool
	}{
		{"vault:widgetgate/providers/custom:my-api-connector#client_secret", "widgetgate/providers/custom:my-api-connector", "client_secret", true},
		{"vault:x#y", "x", "y", true},
		{"vault:x", "", "", false},
		{"vault:#y", "", "", false},
		{"vault:x#", "", "", false},
		{"vault:x#y#z", "", "", false},
		{"vault:a//b#y", "", "", false},
		{"vault:a/./b#y", "", "", false},
		{"vault:a/../b#y", "", "", false},
		{"vault:a/#y", "", "", false},
		{"vault:a\tb#y", "", "", false},
		{"secret:x#y", "", "", false},
	}
	for _, tc := range tests {
		path, field, err := SplitSecretRef(tc.ref)
		if path != tc.path || field != tc.field || (err == nil) != tc.ok {
			t.Errorf("SplitSecretRef(%q) = %q, %q, %v", tc.ref, path, field, err)
		}
	}
}
