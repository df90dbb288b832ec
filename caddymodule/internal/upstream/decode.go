package upstream

import (
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrEncoding: the provider compressed its answer in a way widgetgate
// cannot decode, so it cannot mask secrets in it: the answer is refused.
var ErrEncoding = fmt.Errorf("upstream content encoding not supported")

// acceptEncoding is what every call asks for, whatever the schema says:
// the bytes a widget gets must be bytes widgetgate could search for the
// token, so the encoding is ours to choose.
func acceptEncoding(compression bool) string {
	if compression {
		return "gzip"
	}
	return "identity"
}

// decodeBody makes resp's body plain: a provider may compress even when
// asked not to, and masking compressed bytes masks nothing (the widget,
// or its browser, decompresses the token back). gzip and deflate are
// decoded as they stream; the envelope's size cap then applies to the
// decoded bytes, so a compression bomb is cut at the cap. Any other
// encoding is ErrEncoding.
func decodeBody(resp *http.Response) error {
	enc := strings.ToLower(strings.TrimSpace(strings.Join(resp.Header.Values("Content-Encoding"), ",")))
	var open func(io.Reader) (io.Reader, error)
	switch enc {
	case "", "identity":
		return nil
	case "gzip", "x-gzip":
		open = func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }
	case "deflate":
		open = func(r io.Reader) (io.Reader, error) { return zlib.NewReader(r) }
	default:
		return fmt.Errorf("%w: %q", ErrEncoding, enc)
	}
	resp.Body = &decodedBody{src: resp.Body, open: open}
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Uncompressed = true
	return nil
}

// decodedBody decodes src on first read, so an empty body (a 204, a HEAD
// answer) with a Content-Encoding header is simply empty.
type decodedBody struct {
	src  io.ReadCloser
	open func(io.Reader) (io.Reader, error)
	r    io.Reader
}

func (d *decodedBody) Read(p []byte) (int, error) {
	if d.r == nil {
		r, err := d.open(d.src)
		if err != nil {
			return 0, err // io.EOF for an empty body
		}
		d.r = r
	}
	return d.r.Read(p)
}

func (d *decodedBody) Close() error { return d.src.Close() }
