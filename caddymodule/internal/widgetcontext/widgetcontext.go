// Package widgetcontext answers what a widget instance may know about
// where it runs, for the Widget API's getConfiguration and getUserInfo:
// the configuration an administrator set for the calling instance (else
// the schema's defaults) and who the viewer is. The instance and the
// viewer come from the caller context only, as for calls, so an instance
// never reads another's configuration.
package widgetcontext

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/callerctx"
)

// Store reads an instance's configuration of a widget (as
// *vaultstore.Store does): the stored values, an empty map when none.
type Store interface {
	InstanceConfig(ctx context.Context, instance, widget string) (map[string]any, error)
}

// Widgets finds a loaded widget (as *widgetdir.Dir does).
type Widgets interface {
	Widget(id string) (*schema.Widget, bool)
}

// Caller says who calls widgetID, as the gateway decides for calls.
type Caller func(h http.Header, widgetID string) (callerctx.Context, *problem.Problem)

// Server answers GET …/widgets/{widgetId}/context.
type Server struct {
	Store   Store
	Widgets Widgets
	Caller  Caller
	Logger  *slog.Logger
	// Observe, when set, is told of each request ServeHTTP answers: the
	// widget when it is loaded (else "", so a caller cannot invent
	// labels) and "ok" or the problem's code.
	Observe func(widget, outcome string)
}

// Answer is the body of a context request.
type Answer struct {
	// Configuration is shaped as getConfiguration's data.configuration.
	Configuration map[string]schema.FieldValue `json:"configuration"`
	User          User                         `json:"user"`
}

// User is the viewer, as getUserInfo answers it; empty strings when the
// host did not say.
type User struct {
	DisplayName string `json:"displayName"`
	Email       string `json:"email"`
	Language    string `json:"language"`
}

// ParsePath reports whether the escaped path p is a context request,
// …/widgets/{widgetId}/context, and for which widget.
func ParsePath(p string) (widgetID string, ok bool) {
	rest, ok := strings.CutSuffix(p, "/context")
	if !ok {
		return "", false
	}
	i := strings.LastIndex(rest, "/widgets/")
	if i < 0 {
		return "", false
	}
	id := rest[i+len("/widgets/"):]
	return id, schema.ValidWidgetID(id)
}

// ServeHTTP answers r, a context request for widgetID, with JSON.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request, widgetID string) {
	answer, p := s.Serve(r.Context(), r.Method, r.Header, widgetID)
	s.observe(widgetID, p)
	if p != nil {
		problem.Write(w, p)
		return
	}
	body, _ := json.Marshal(answer)
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.Write(append(body, '\n'))
}

// observe tells Observe how a request for widgetID ended.
func (s *Server) observe(widgetID string, p *problem.Problem) {
	if s.Observe == nil {
		return
	}
	outcome := "ok"
	if p != nil {
		outcome = p.Code
	}
	if _, ok := s.Widgets.Widget(widgetID); !ok {
		widgetID = ""
	}
	s.Observe(widgetID, outcome)
}

// Serve answers a context request for widgetID with the request's headers.
func (s *Server) Serve(ctx context.Context, method string, h http.Header, widgetID string) (*Answer, *problem.Problem) {
	if method != http.MethodGet {
		p := problem.New(http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		p.Allow = http.MethodGet
		return nil, p
	}
	w, ok := s.Widgets.Widget(widgetID)
	if !ok {
		return nil, problem.New(http.StatusNotFound, "unknown_widget", "no widget "+widgetID+" is loaded")
	}
	caller, p := s.Caller(h, widgetID)
	if p != nil {
		return nil, p
	}
	stored := map[string]any{}
	if caller.Instance != "" && len(w.Configuration.Fields) > 0 {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var err error
		stored, err = s.Store.InstanceConfig(ctx, caller.Instance, widgetID)
		if errors.Is(err, vaultstore.ErrMalformedConfig) {
			s.Logger.Warn("an instance's configuration is malformed in Vault; serving the defaults", "widget", widgetID, "instance", caller.Instance, "error", err)
			stored, err = map[string]any{}, nil
		}
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				s.Logger.Warn("reading an instance's configuration failed", "widget", widgetID, "instance", caller.Instance, "error", err)
			}
			p := problem.New(http.StatusServiceUnavailable, "vault_unavailable", "the configuration cannot be read from the secret store; try again shortly")
			p.RetryAfter = 5
			return nil, p
		}
	}
	return &Answer{
		Configuration: w.Configuration.Effective(stored),
		User:          User{DisplayName: caller.DisplayName, Email: caller.Email, Language: caller.Language},
	}, nil
}
