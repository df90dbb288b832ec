package upstream

import (
	"crypto/x509"
	"fmt"
	"os"
)

// ReadRoots reads the PEM CA certificates in file, which replace the
// system roots for providers; it returns them with the file's bytes (which
// a config's identity hashes). An empty file name means the system roots:
// nil, nil.
func ReadRoots(file string) (*x509.CertPool, []byte, error) {
	if file == "" {
		return nil, nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("%s: no PEM certificate found", file)
	}
	return roots, pem, nil
}
