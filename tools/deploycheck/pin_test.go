package deploycheck

// The Kubernetes OpenAPI document the schemas are made from comes with the
// module k8s.io/kubernetes (api/openapi-spec/swagger.json). This import of
// one of its packages that needs nothing but the standard library keeps the
// module in go.mod and go.sum, so `go mod download` fetches it, verified,
// and `go mod tidy` keeps it.
import _ "k8s.io/kubernetes/cmd/genutils"
