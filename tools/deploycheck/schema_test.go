package deploycheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/yannh/kubeconform/pkg/validator"
)

// kubernetesModule is the module whose api/openapi-spec/swagger.json the
// schemas are made from: the OpenAPI document the API server of that
// release serves. Its version is go.mod's (pin_test.go keeps it there).
const kubernetesModule = "k8s.io/kubernetes"

// kubeconform's default schemas come from GitHub; these are made here,
// from the OpenAPI document, the way its openapi2jsonschema.py makes its
// "-standalone-strict" ones:
//   - one file per group, version and kind, named as kubeconform's local
//     registry looks them up ({kind}-{group}-{version}.json, lower case);
//   - every object with properties gets additionalProperties: false
//     (strict: an unknown or misspelt field is an error);
//   - int-or-string and quantity, strings in the document, also take
//     numbers (a port 8080, cpu: 1), as the API server does.

var (
	schemaOnce sync.Once
	schemaDir  string
	schemaErr  error
	k8sVersion string
)

// schemas returns the folder of generated schemas, made once per run.
func schemas(t testing.TB) (dir, version string) {
	t.Helper()
	schemaOnce.Do(func() {
		schemaDir, k8sVersion, schemaErr = makeSchemas()
	})
	if schemaErr != nil {
		t.Fatal(schemaErr)
	}
	return schemaDir, k8sVersion
}

func makeSchemas() (string, string, error) {
	// The module as go.mod pins it, verified against go.sum; already in
	// the module cache after `go mod download`, so no network is needed.
	out, err := exec.Command("go", "mod", "download", "-json", kubernetesModule).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s%s", err, ee.Stderr, out)
		}
		return "", "", fmt.Errorf("go mod download %s (needed for its OpenAPI document): %w", kubernetesModule, err)
	}
	var mod struct{ Dir, Version, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", "", fmt.Errorf("go mod download %s: %v %s", kubernetesModule, err, mod.Error)
	}
	doc, err := os.ReadFile(filepath.Join(mod.Dir, "api", "openapi-spec", "swagger.json"))
	if err != nil {
		return "", "", err
	}
	var spec struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(doc, &spec); err != nil {
		return "", "", fmt.Errorf("swagger.json: %w", err)
	}
	defs := map[string]any{}
	for name, def := range spec.Definitions {
		defs[name] = convert(def)
	}
	dir, err := os.MkdirTemp("", "deploycheck-schemas-")
	if err != nil {
		return "", "", err
	}
	n := 0
	for name, def := range spec.Definitions {
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk, _ := g.(map[string]any)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			kind, _ := gvk["kind"].(string)
			suffix := "-" + version
			if group != "" {
				suffix = "-" + strings.ToLower(strings.Split(group, ".")[0]) + "-" + version
			}
			apiVersion := version
			if group != "" {
				apiVersion = group + "/" + version
			}
			// The kind's definition, with the definitions it refers to, and
			// apiVersion and kind pinned to this one.
			// (The definition itself at the root, not behind a $ref: errors
			// then name the field, not "allOf failed".)
			root := maps.Clone(defs[name].(map[string]any))
			props := maps.Clone(root["properties"].(map[string]any))
			props["apiVersion"] = map[string]any{"type": "string", "enum": []any{apiVersion}}
			props["kind"] = map[string]any{"type": "string", "enum": []any{kind}}
			root["properties"] = props
			root["required"] = append(slices.Clone(anySlice(root["required"])), "apiVersion", "kind")
			root["$schema"] = "http://json-schema.org/draft-04/schema#"
			root["definitions"] = closure(defs, name)
			b, err := json.Marshal(root)
			if err != nil {
				return "", "", err
			}
			if err := os.WriteFile(filepath.Join(dir, strings.ToLower(kind)+suffix+".json"), b, 0o600); err != nil {
				return "", "", err
			}
			n++
		}
	}
	if n < 100 {
		return "", "", fmt.Errorf("swagger.json of %s %s: only %d kinds", kubernetesModule, mod.Version, n)
	}
	return dir, strings.TrimPrefix(mod.Version, "v"), nil
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// convert turns an OpenAPI v2 schema into the JSON schema kubeconform
// validates with (a copy).
func convert(v any) any {
	switch x := v.(type) {
	case map[string]any:
		switch x["format"] {
		case "int-or-string":
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
		}
		out := map[string]any{}
		for k, val := range x {
			if strings.HasPrefix(k, "x-kubernetes-") && k != "x-kubernetes-preserve-unknown-fields" {
				continue
			}
			if k == "properties" {
				props := map[string]any{}
				for pk, pv := range val.(map[string]any) {
					props[pk] = convert(pv)
				}
				out[k] = props
				continue
			}
			out[k] = convert(val)
		}
		if ref, ok := out["$ref"].(string); ok {
			// Descriptions next to a $ref are ignored by draft 4 anyway.
			return map[string]any{"$ref": ref}
		}
		if _, ok := out["properties"]; ok {
			if _, set := out["additionalProperties"]; !set && out["x-kubernetes-preserve-unknown-fields"] != true {
				out["additionalProperties"] = false
			}
		}
		delete(out, "x-kubernetes-preserve-unknown-fields")
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = convert(e)
		}
		return out
	}
	return v
}

// closure is name's definition and every definition it refers to.
func closure(defs map[string]any, name string) map[string]any {
	out := map[string]any{}
	var visit func(string)
	var refs func(any)
	visit = func(n string) {
		if _, done := out[n]; done {
			return
		}
		d, ok := defs[n]
		if !ok {
			return
		}
		out[n] = d
		refs(d)
	}
	refs = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				visit(strings.TrimPrefix(r, "#/definitions/"))
			}
			for _, e := range x {
				refs(e)
			}
		case []any:
			for _, e := range x {
				refs(e)
			}
		}
	}
	visit(name)
	// Quantity is a string in the document and a number or a string in
	// manifests ("cpu: 1", "memory: 256Mi").
	if _, ok := out["io.k8s.apimachinery.pkg.api.resource.Quantity"]; ok {
		out["io.k8s.apimachinery.pkg.api.resource.Quantity"] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
	}
	return out
}

// newValidator is kubeconform in strict mode over the generated schemas
// only: a kind without a schema is an error, never skipped.
func newValidator(t testing.TB) validator.Validator {
	t.Helper()
	dir, version := schemas(t)
	v, err := validator.New([]string{filepath.Join(dir, "{{ .ResourceKind }}{{ .KindSuffix }}.json")},
		validator.Opts{Strict: true, KubernetesVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// validate checks every document of a YAML stream and returns one line per
// problem.
func validate(t testing.TB, v validator.Validator, name string, yamlDocs []byte) (problems []string, kinds []string) {
	t.Helper()
	for _, r := range v.Validate(name, io.NopCloser(bytes.NewReader(yamlDocs))) {
		sig, _ := r.Resource.Signature()
		what := name
		if sig != nil {
			what = fmt.Sprintf("%s: %s %s/%s", name, sig.Version, sig.Kind, sig.Name)
			kinds = append(kinds, sig.Kind)
		}
		switch r.Status {
		case validator.Valid:
		case validator.Empty:
		case validator.Invalid:
			// The error's text has every nested cause (ValidationErrors only
			// the first level).
			problems = append(problems, fmt.Sprintf("%s: %v", what, r.Err))
		default: // Error, Skipped: never a pass
			problems = append(problems, fmt.Sprintf("%s: %v (status %d)", what, r.Err, r.Status))
		}
	}
	return problems, kinds
}

// TestSchemasBuiltManifests validates what `kubectl apply -k
// deploy/kubernetes` would send.
func TestSchemasBuiltManifests(t *testing.T) {
	v := newValidator(t)
	problems, kinds := validate(t, v, "kustomize build deploy/kubernetes", buildYAML(t))
	for _, p := range problems {
		t.Error(p)
	}
	sort.Strings(kinds)
	want := []string{"ConfigMap", "Deployment", "Namespace", "PersistentVolumeClaim", "PodDisruptionBudget", "Service", "Service", "ServiceAccount"}
	if !slices.Equal(kinds, want) {
		t.Errorf("validated kinds %v, want %v", kinds, want)
	}
}

// TestSchemasEveryFile validates every Kubernetes object under
// deploy/kubernetes as written, optional files included (networkpolicy.yaml
// is not in the kustomization).
func TestSchemasEveryFile(t *testing.T) {
	v := newValidator(t)
	files, err := filepath.Glob(deployDir("kubernetes", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		problems, kinds := validate(t, v, filepath.Base(f), b)
		for _, p := range problems {
			t.Error(p)
		}
		if len(kinds) == 0 {
			t.Errorf("%s: no Kubernetes object in it", f)
		}
		seen++
	}
	if seen < 7 {
		t.Errorf("validated %d files under deploy/kubernetes, want at least 7", seen)
	}
}

// TestSchemasCatchMistakes makes sure the schemas are strict: each
// mistake below is refused. A generator that made permissive schemas
// would pass every manifest.
func TestSchemasCatchMistakes(t *testing.T) {
	v := newValidator(t)
	base := `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: c
          image: i
          ports: [{containerPort: 8080}]
          resources: {requests: {cpu: 1, memory: 1Gi}}
          readinessProbe: {httpGet: {path: /, port: http}}
`
	if problems, _ := validate(t, v, "base", []byte(base)); len(problems) > 0 {
		t.Fatalf("the base of the mistakes is refused: %v", problems)
	}
	mistakes := map[string][2]string{
		"unknown field":          {"          image: i\n", "          image: i\n          imagePolicy: Always\n"},
		"misspelt field":         {"readinessProbe", "readynessProbe"},
		"wrong type":             {"containerPort: 8080", "containerPort: [8080]"},
		"missing required field": {"        - name: c\n          image: i\n", "        - image: i\n"},
		"wrong apiVersion":       {"apiVersion: apps/v1", "apiVersion: apps/v2"},
		"unknown kind":           {"kind: Deployment", "kind: Deploymnet"},
	}
	for name, m := range mistakes {
		doc := strings.Replace(base, m[0], m[1], 1)
		if doc == base {
			t.Fatalf("%s: the mistake changes nothing", name)
		}
		if problems, _ := validate(t, v, name, []byte(doc)); len(problems) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
}
