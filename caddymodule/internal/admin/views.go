package admin

import (
	"strings"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// passportView is a passport as the admin API shows it: never a token.
type passportView struct {
	ID          string      `json:"id"`
	Provider    string      `json:"provider"`
	DisplayName string      `json:"displayName"`
	Status      string      `json:"status"`
	Account     accountView `json:"account"`
	Scopes      []string    `json:"scopes"`
	Expiry      string      `json:"expiry"`
	LastRefresh string      `json:"lastRefresh"`
	LastError   string      `json:"lastError"`
}

type accountView struct {
	Email string `json:"email"`
	ID    string `json:"id"`
	Name  string `json:"name"`
}

func viewOf(p *passport.Passport) passportView {
	status := p.Status
	if status == "" {
		status = passport.StatusInactive
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	return passportView{
		ID: p.ID, Provider: p.Provider, DisplayName: p.DisplayName, Status: status,
		Account: accountView{Email: p.AccountEmail, ID: p.AccountID, Name: p.AccountName},
		Scopes:  strings.Fields(p.Scope), Expiry: ts(p.Expiry), LastRefresh: ts(p.LastRefresh), LastError: p.LastError,
	}
}

type providerView struct {
	Name                  string `json:"name"`
	DisplayName           string `json:"displayName"`
	Kind                  string `json:"kind"`
	Custom                bool   `json:"custom"`
	Source                string `json:"source"`
	CredentialsConfigured bool   `json:"credentialsConfigured"`
}

type widgetView struct {
	ID              string     `json:"id"`
	Authentications []authView `json:"authentications"`
	BundledProvider string     `json:"bundledProvider"`
	// Configurable: the widget declares configuration fields.
	Configurable bool `json:"configurable"`
}

type authView struct {
	AuthKey  string `json:"authKey"`
	Label    string `json:"label"`
	Provider string `json:"provider"`
}
