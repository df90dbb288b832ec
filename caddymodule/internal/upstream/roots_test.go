package upstream

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadRoots(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	if roots, pem, err := ReadRoots(""); roots != nil || pem != nil || err != nil {
		t.Errorf(`ReadRoots("") = %v, %v, %v; want the system roots (nil)`, roots, pem, err)
	}
	for _, tc := range []struct{ file, want string }{
		{filepath.Join(dir, "missing.pem"), "no such file"},
		{notPEM, "not.pem: no PEM certificate found"},
	} {
		if _, _, err := ReadRoots(tc.file); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadRoots(%s) = %v, want %q", tc.file, err, tc.want)
		}
	}
}
