package authserver

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Patterns for the parts of the server's own pages that Consent reads.
// Regular expressions suffice because the markup is this package's own.
var (
	formActionRE  = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	hiddenInputRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	errorCodeRE   = regexp.MustCompile(`<span id="error">([^<]*)</span>`)
	errorDescRE   = regexp.MustCompile(`<p id="error_description">([^<]*)</p>`)
)

// Consent plays the user's browser for an authorization request: it opens
// authorizeURL (as built by the client under test), submits the consent
// form with Allow (allow true) or Deny, and returns the URL the server
// redirects to, i.e. the client's redirect_uri with code and state, or
// with error=access_denied. The redirect is not followed, so no callback
// server is needed. If /authorize answers with an error page, the error
// returned carries its error code and description.
//
// client may be nil for a default client; its CheckRedirect is ignored.
func Consent(ctx context.Context, client *http.Client, authorizeURL string, allow bool) (*url.URL, error) {
	c := http.Client{}
	if client != nil {
		c = *client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	page, pageURL, status, err := get(ctx, &c, authorizeURL)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("authserver: authorize: %d %s: %s", status, match(errorCodeRE, page), match(errorDescRE, page))
	}
	m := formActionRE.FindStringSubmatch(page)
	if m == nil {
		return nil, errors.New("authserver: authorize: no consent form in the page")
	}
	action, err := pageURL.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return nil, fmt.Errorf("authserver: consent form action: %w", err)
	}
	form := url.Values{}
	for _, in := range hiddenInputRE.FindAllStringSubmatch(page, -1) {
		form.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	form.Set(decisionField, decisionDeny)
	if allow {
		form.Set(decisionField, decisionAllow)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", formContentType)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxForm))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("authserver: decision: %d %s: %s", resp.StatusCode, match(errorCodeRE, string(body)), match(errorDescRE, string(body)))
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("authserver: decision: %w", err)
	}
	return loc, nil
}

// get fetches a page and returns its body, final URL and status.
func get(ctx context.Context, c *http.Client, u string) (body string, pageURL *url.URL, status int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", nil, 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxForm))
	if err != nil {
		return "", nil, 0, err
	}
	return string(b), resp.Request.URL, resp.StatusCode, nil
}

// match returns the unescaped first submatch of re in s, or "".
func match(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}
