package admin

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"unicode"
)

// Action names an audited admin action. Each one is one line on
// Handler.Audit, at info level, with the action, the actor, how the actor
// was authenticated, the target, the outcome and never a secret: no
// token, no authorization code, no state, no pasted credential, no
// problem message (only its code).
type Action string

// The audited actions.
const (
	ActionPassportCreate  Action = "passport.create"
	ActionConnectStart    Action = "passport.connect_start"    // an OAuth sign-in URL was handed out
	ActionConnectComplete Action = "passport.connect_complete" // the OAuth callback, or pasted credentials (method "pasted")
	ActionDisconnect      Action = "passport.disconnect"
	ActionPassportDelete  Action = "passport.delete"
	ActionBindingsUpdate  Action = "bindings.update"

	// A widget package uploaded (with its size, and the bundled passport
	// created for it) or deleted.
	ActionWidgetUpload Action = "widget.upload"
	ActionWidgetDelete Action = "widget.delete"

	// An instance's configuration of a widget set (with the names of the
	// fields set, never their values) or reset to the defaults.
	ActionConfigUpdate Action = "config.update"
	ActionConfigReset  Action = "config.reset"
)

// Outcome of an action that succeeded; a failed one has the problem's code.
const outcomeOK = "ok"

// How the actor was authenticated, in the auth field.
const (
	authToken      = "token"          // token_file's bearer token
	authTokenVault = "token_vault"    // the bearer token kept in Vault
	authDirective  = "auth_directive" // basic_auth / forward_auth in front (trust_auth_directive)
	authOAuthState = "oauth_state"    // the OAuth callback: its single-use state, handed out to an authenticated admin
	authNone       = "none"           // refused before or at authentication
)

const (
	actorDefault    = "admin"           // no actor_header, or it is not set
	actorUnverified = "unauthenticated" // refused before the credential was accepted
	maxActorBytes   = 256
	auditMessage    = "admin action"
)

// auditRecord is the audit line of one action, filled in while it runs.
type auditRecord struct {
	action Action
	target string
	attrs  []slog.Attr
}

type auditKey struct{}

// noteAudit lets the code serving an action add to its audit line: the id
// it created, the provider, the connect method. A no-op outside an
// audited action.
func noteAudit(ctx context.Context, f func(*auditRecord)) {
	if rec, ok := ctx.Value(auditKey{}).(*auditRecord); ok {
		f(rec)
	}
}

// withAudit starts the audit record of action on target.
func withAudit(ctx context.Context, action Action, target string) (context.Context, *auditRecord) {
	rec := &auditRecord{action: action, target: target}
	return context.WithValue(ctx, auditKey{}, rec), rec
}

// authMethod says how API requests are authenticated.
func (h *Handler) authMethod() string {
	switch {
	case h.TrustAuthDirective:
		return authDirective
	case h.TokenVault:
		return authTokenVault
	}
	return authToken
}

// actor is who made r: the ActorHeader's value when one is configured and
// set (by the auth directive in front), else "admin".
func (h *Handler) actor(r *http.Request) string {
	if h.ActorHeader != "" {
		if a := cleanActor(r.Header.Get(h.ActorHeader)); a != "" {
			return a
		}
	}
	return actorDefault
}

// cleanActor keeps a header value fit for a log line: printable
// characters only, at most maxActorBytes.
func cleanActor(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, strings.TrimSpace(s))
	if len(s) > maxActorBytes {
		s = strings.ToValidUTF8(s[:maxActorBytes], "")
	}
	return s
}

// audit writes rec's line. actor and auth are who did it and how they
// were authenticated; outcome is "ok" or the problem code.
func (h *Handler) audit(r *http.Request, rec *auditRecord, actor, auth, outcome string) {
	if h.Audit == nil || rec == nil || rec.action == "" {
		return
	}
	attrs := append([]slog.Attr{
		slog.String("action", string(rec.action)),
		slog.String("actor", actor),
		slog.String("auth", auth),
		slog.String("target", rec.target),
		slog.String("outcome", outcome),
		slog.String("remote_ip", remoteIP(r)),
	}, rec.attrs...)
	h.Audit.LogAttrs(r.Context(), slog.LevelInfo, auditMessage, attrs...)
}

// auditAPI writes the line of an API action that got past authentication.
func (h *Handler) auditAPI(r *http.Request, rec *auditRecord, outcome string) {
	h.audit(r, rec, h.actor(r), h.authMethod(), outcome)
}

// auditRefused writes the line of an API action refused before or at
// authentication (cross-origin, bad credential). Without an auth
// directive in front, nothing says who it was: a header is only a claim.
func (h *Handler) auditRefused(r *http.Request, action Action, target, outcome string) {
	actor, auth := actorUnverified, authNone
	if h.TrustAuthDirective {
		actor, auth = h.actor(r), authDirective
	}
	h.audit(r, &auditRecord{action: action, target: target}, actor, auth, outcome)
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
