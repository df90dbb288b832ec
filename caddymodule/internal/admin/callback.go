package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/connect"
)

// callbackPage tells the administrator how a connect ended, and tells the
// operator page (the popup's opener) too. html/template escapes every
// value for where it lands.
var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>widgetgate: passport</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:3rem auto;max-width:32rem;color:#0f172a}.ok{color:#15803d}.err{color:#b91c1c}</style></head>
<body data-result="{{.Result}}" data-passport="{{.Passport}}"><h1 class="{{.Class}}">{{.Title}}</h1><p id="message">{{.Message}}</p>
<script nonce="{{.Nonce}}">
(function(){var b=document.body;if(window.opener){try{window.opener.postMessage({widgetgateAdmin:b.dataset.result,passport:b.dataset.passport,message:document.getElementById('message').textContent},location.origin);}catch(e){}}
if(b.dataset.result==='connected'){setTimeout(function(){window.close();},1500);}})();
</script></body></html>`))

// callbackView fills callbackPage.
type callbackView struct {
	Result, Passport, Class, Title, Message, Nonce string
}

// serveCallback completes a connect and shows the administrator what
// happened.
func (h *Handler) serveCallback(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	p, err := h.Flow.Finish(ctx, r.URL.Query())
	view := callbackView{Result: "connected", Class: "ok", Title: "Passport connected"}
	// The audit line names the passport and the outcome, never the code or
	// the state in the URL. A failed callback's passport is not known here.
	rec := &auditRecord{action: ActionConnectComplete, attrs: []slog.Attr{slog.String("method", "oauth")}}
	outcome := outcomeOK
	if err == nil {
		rec.target = p.ID
		rec.attrs = append(rec.attrs, slog.String("provider", p.Provider))
		h.Cache.Store(p)
		view.Passport = p.ID
		who := p.AccountEmail
		if who == "" {
			who = p.AccountName
		}
		view.Message = "Connected"
		if who != "" {
			view.Message += " as " + who
		}
		view.Message += ". You can close this window."
	} else {
		view.Result, view.Class, view.Title = "failed", "err", "Passport not connected"
		var ce *connect.Error
		if errors.As(err, &ce) {
			view.Message = ce.Message
			outcome = ce.Reason
		} else {
			view.Message = "The secret store cannot be reached; nothing was saved. Try again shortly."
			outcome = "vault_unavailable"
		}
		h.Logger.Info("passport connect failed", "reason", view.Message)
	}
	h.audit(r, rec, h.actor(r), authOAuthState, outcome)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	view.Nonce = hex.EncodeToString(nonce)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Referrer-Policy", "no-referrer") // the URL holds the code and state
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-"+view.Nonce+"'")
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	callbackPage.Execute(w, view)
}
