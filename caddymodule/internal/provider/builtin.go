package provider

import (
	"maps"
	"slices"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/endpoints"
)

// Builtin returns a copy of the built-in provider called name (a
// passportProvider value from the Built-in Passport Reference of
// the Appspace widget developer guide).
func Builtin(name string) (*Provider, bool) {
	p, ok := builtinTable()[name]
	if !ok {
		return nil, false
	}
	return p.Clone(), true
}

// Builtins returns copies of every built-in provider, sorted by name.
func Builtins() []*Provider {
	table := builtinTable()
	names := slices.Sorted(maps.Keys(table))
	out := make([]*Provider, 0, len(names))
	for _, n := range names {
		out = append(out, table[n].Clone())
	}
	return out
}

// builtinTable is built once; callers only ever see clones, so it is never
// mutated after construction.
var builtinTable = sync.OnceValue(func() map[string]*Provider {
	list := builtinList()
	m := make(map[string]*Provider, len(list))
	for _, p := range list {
		if _, dup := m[p.Name]; dup {
			panic("provider: duplicate built-in " + p.Name) // a bug in the table below
		}
		p.Source = SourceBuiltin
		if p.ScopeSeparator == "" {
			p.ScopeSeparator = " "
		}
		m[p.Name] = p
	}
	return m
})

// Scopes shared by the provider families. OpenID Connect scopes make the
// token response carry an ID token with the account's email and name, so
// the profile is read from it (ProfileFromIDToken) without another call.
var (
	googleOIDC = []string{"openid", "email", "profile"}
	// offline_access is what makes Microsoft issue a refresh token.
	microsoftOIDC = []string{"offline_access", "openid", "profile", "email"}
)

// googleProvider fills in what every Google built-in shares.
func googleProvider(name, display, category string, scopes ...string) *Provider {
	return &Provider{
		Name: name, DisplayName: display, Category: category, Kind: KindOAuth2,
		AuthURL: endpoints.Google.AuthURL, TokenURL: endpoints.Google.TokenURL,
		// Google accepts both styles; the body is what its own client
		// libraries (golang.org/x/oauth2/google) use.
		AuthStyle: oauth2.AuthStyleInParams,
		Scopes:    append(slices.Clone(googleOIDC), scopes...),
		// Without access_type=offline Google issues no refresh token, and
		// without prompt=consent it issues one only on the first consent,
		// so reconnecting a passport would leave it unable to refresh.
		AuthParams:         map[string]string{"access_type": "offline", "prompt": "consent"},
		RevocationURL:      "https://oauth2.googleapis.com/revoke",
		PKCE:               true,
		ProfileFromIDToken: true,
		ProfileEmailPath:   "$.email", ProfileIDPath: "$.sub", ProfileNamePath: "$.name",
	}
}

// microsoftProvider fills in what every Microsoft built-in shares: the
// multi-tenant ("common") Microsoft identity platform v2 endpoints.
//
// A Microsoft access token is for one resource, so a provider whose scopes
// are for another API than Graph (Power BI, Viva Engage) cannot also ask for
// Graph's User.Read; reading the profile from the ID token works for all.
func microsoftProvider(name, display, category string, scopes ...string) *Provider {
	ep := endpoints.AzureAD("common")
	return &Provider{
		Name: name, DisplayName: display, Category: category, Kind: KindOAuth2,
		AuthURL: ep.AuthURL, TokenURL: ep.TokenURL,
		// Confidential clients send the secret in the body in Microsoft's
		// own examples; the v2 endpoint also accepts Basic.
		AuthStyle:          oauth2.AuthStyleInParams,
		Scopes:             append(slices.Clone(microsoftOIDC), scopes...),
		PKCE:               true,
		ProfileFromIDToken: true,
		// preferred_username is the sign-in name (usually the UPN, an
		// email address); the email claim is optional in Microsoft ID tokens.
		ProfileEmailPath: "$.preferred_username", ProfileIDPath: "$.oid", ProfileNamePath: "$.name",
		// Graph allows 4 concurrent Outlook requests per app and mailbox
		// and answers the fifth with 429.
		MaxConcurrent: 4,
	}
}

// Power BI's delegated scopes are full URIs on its own resource.
const powerBI = "https://analysis.windows.net/powerbi/api/"

func zoomProvider(name, display, category string, scopes ...string) *Provider {
	return &Provider{
		Name: name, DisplayName: display, Category: category, Kind: KindOAuth2,
		AuthURL: endpoints.Zoom.AuthURL, TokenURL: endpoints.Zoom.TokenURL,
		// Zoom requires HTTP Basic client authentication at its token
		// endpoint and rejects credentials in the body.
		AuthStyle:  oauth2.AuthStyleInHeader,
		Scopes:     scopes,
		PKCE:       true,
		ProfileURL: "https://api.zoom.us/v2/users/me", ProfileEmailPath: "$.email", ProfileIDPath: "$.id", ProfileNamePath: "$.display_name",
		Notes: "Zoom rotates refresh tokens: every refresh returns a new one and the old one stops working.",
	}
}

func webexProvider(name, display, category string, scopes ...string) *Provider {
	return &Provider{
		Name: name, DisplayName: display, Category: category, Kind: KindOAuth2,
		AuthURL: "https://webexapis.com/v1/authorize", TokenURL: "https://webexapis.com/v1/access_token",
		// Webex documents client_id and client_secret as body parameters.
		AuthStyle:  oauth2.AuthStyleInParams,
		Scopes:     append([]string{"spark:people_read"}, scopes...),
		PKCE:       true,
		ProfileURL: "https://webexapis.com/v1/people/me", ProfileEmailPath: "$.emails[0]", ProfileIDPath: "$.id", ProfileNamePath: "$.displayName",
	}
}

// facebookProvider is shared by Facebook and Workplace from Meta, whose API
// is the Facebook Graph API.
func facebookProvider(name, display, category, notes string, scopes ...string) *Provider {
	return &Provider{
		Name: name, DisplayName: display, Category: category, Kind: KindOAuth2,
		AuthURL: endpoints.Facebook.AuthURL, TokenURL: endpoints.Facebook.TokenURL,
		// Facebook takes client_id and client_secret as parameters only.
		AuthStyle:  oauth2.AuthStyleInParams,
		Scopes:     scopes,
		PKCE:       true,
		ProfileURL: "https://graph.facebook.com/v22.0/me?fields=id,name,email", ProfileEmailPath: "$.email", ProfileIDPath: "$.id", ProfileNamePath: "$.name",
		Notes: notes,
	}
}

// facebookNotes explains why Facebook passports need care: Facebook has no
// refresh_token grant.
const facebookNotes = "Facebook issues no refresh tokens: a long-lived user token lasts about 60 days and must be re-obtained by reconnecting the passport (or exchanged with fb_exchange_token before it expires)."

// builtinList is the Built-in Passport Reference of the Appspace widget
// developer guide. The guide's table lost its passportProvider column in
// extraction; the names here are the ones the project settled on.
func builtinList() []*Provider {
	return []*Provider{
		// Google.
		googleProvider("google", "Google Calendar", "Calendar",
			"https://www.googleapis.com/auth/calendar.readonly"),
		googleProvider("google-drive", "Google Drive", "Library",
			"https://www.googleapis.com/auth/drive.readonly"),
		googleProvider("google-meet", "Google Meet Conferencing", "Conference",
			"https://www.googleapis.com/auth/calendar.events",
			"https://www.googleapis.com/auth/meetings.space.created"),

		// Microsoft. Short scope names ("Calendars.Read") are Microsoft Graph's.
		microsoftProvider("microsoft", "Microsoft 365", "Calendar", "User.Read", "Calendars.Read"),
		microsoftProvider("microsoft-teams", "Microsoft Teams", "Publishing",
			"User.Read", "Team.ReadBasic.All", "Channel.ReadBasic.All", "ChannelMessage.Read.All"),
		microsoftProvider("microsoft-teams-conferencing", "Microsoft Teams Conferencing", "Conference",
			"User.Read", "OnlineMeetings.ReadWrite", "Calendars.ReadWrite"),
		microsoftProvider("powerbi", "Power BI", "Dashboard",
			powerBI+"Report.Read.All", powerBI+"Dashboard.Read.All", powerBI+"Dataset.Read.All", powerBI+"Workspace.Read.All"),
		microsoftProvider("sharepoint", "SharePoint", "Library", "User.Read", "Sites.Read.All", "Files.Read.All"),
		microsoftProvider("sharepoint-publishing", "SharePoint Publishing", "Publishing", "User.Read", "Sites.Read.All"),
		// Viva Engage (formerly Yammer) has its own resource.
		microsoftProvider("viva-engage", "Microsoft Viva Engage", "Publishing", "https://api.yammer.com/user_impersonation"),
		microsoftProvider("entra-id", "Microsoft Entra ID", "Org Chart", "User.Read", "User.Read.All"),
		microsoftProvider("microsoft-presence", "Microsoft 365 Presence", "Presence", "User.Read", "Presence.Read.All"),
		microsoftProvider("microsoft-calendar-permission", "Microsoft 365 Calendar Permission", "Delegations",
			"User.Read", "Calendars.ReadWrite.Shared"),
		microsoftProvider("appspace-sharepoint", "Appspace SharePoint Intranet", "Library", "User.Read", "Sites.Read.All", "Files.Read.All"),

		// Zoom. Zoom apps declare their scopes in the Marketplace; the
		// scope parameter may only narrow them.
		zoomProvider("zoom", "Zoom Meetings", "Library", "user:read", "meeting:read"),
		zoomProvider("zoom-conferencing", "Zoom Conferencing", "Conference", "user:read", "meeting:read", "meeting:write"),

		// Webex.
		webexProvider("webex-teams", "Webex Teams", "Publishing", "spark:rooms_read", "spark:messages_read", "spark:kms"),
		webexProvider("webex-meetings", "Webex Meetings", "Library", "meeting:schedules_read"),
		webexProvider("webex-conferencing", "Webex Conferencing", "Conference", "meeting:schedules_read", "meeting:schedules_write"),

		// Social & Publishing.
		facebookProvider("facebook", "Facebook", "Social", facebookNotes,
			"public_profile", "email", "pages_show_list", "pages_read_engagement"),
		{
			Name: "twitter", DisplayName: "Twitter", Category: "Social", Kind: KindOAuth2,
			AuthURL: endpoints.X.AuthURL, TokenURL: endpoints.X.TokenURL,
			// X requires Basic authentication from confidential clients.
			AuthStyle: oauth2.AuthStyleInHeader,
			// offline.access is what makes X issue a refresh token.
			Scopes: []string{"tweet.read", "users.read", "offline.access"},
			// X requires PKCE on every authorization.
			PKCE:       true,
			ProfileURL: "https://api.x.com/2/users/me", ProfileIDPath: "$.data.id", ProfileNamePath: "$.data.name",
			Notes: "OAuth 2.0 user context on X (x.com endpoints). X rotates refresh tokens and does not return the account email.",
		},
		{
			Name: "slack", DisplayName: "Slack", Category: "Publishing", Kind: KindOAuth2,
			// oauth.v2.access answers errors with HTTP 200 and
			// {"ok":false,"error":...}; golang.org/x/oauth2 reports those
			// as a RetrieveError with the error code.
			AuthURL: endpoints.Slack.AuthURL, TokenURL: endpoints.Slack.TokenURL,
			// Slack lists client_id and client_secret as arguments of
			// oauth.v2.access (Basic is also accepted).
			AuthStyle: oauth2.AuthStyleInParams,
			// Slack separates scopes with commas, not spaces.
			ScopeSeparator: ",",
			Scopes:         []string{"channels:read", "channels:history", "users:read"},
			PKCE:           true,
			ProfileURL:     "https://slack.com/api/auth.test", ProfileIDPath: "$.user_id", ProfileNamePath: "$.user",
			Notes: "Slack issues refresh tokens only when token rotation is enabled for the app; without it tokens do not expire.",
		},
		facebookProvider("workplace", "Workplace (Facebook)", "Publishing",
			"Workplace from Meta uses the Facebook Graph API endpoints. "+facebookNotes),

		// Other services.
		{
			Name: "salesforce", DisplayName: "Salesforce", Category: "Dashboard", Kind: KindOAuth2,
			// golang.org/x/oauth2/endpoints has no Salesforce entry.
			AuthURL:  "https://login.salesforce.com/services/oauth2/authorize",
			TokenURL: "https://login.salesforce.com/services/oauth2/token",
			// Salesforce's web server flow documents the secret as a
			// body parameter.
			AuthStyle: oauth2.AuthStyleInParams,
			// refresh_token (alias offline_access) is what makes
			// Salesforce issue a refresh token.
			Scopes:     []string{"api", "refresh_token", "openid", "email", "profile"},
			PKCE:       true,
			ProfileURL: "https://login.salesforce.com/services/oauth2/userinfo", ProfileEmailPath: "$.email", ProfileIDPath: "$.user_id", ProfileNamePath: "$.name",
			Notes: "Sandboxes use test.salesforce.com and My Domain orgs their own host; define a custom passport with referenceApplicationName \"salesforce\" and its own URLs for those.",
		},
		{
			// Tableau is "Custom Auth" in the developer guide, not OAuth: its
			// passports hold a personal access token signed in through
			// Tableau's REST API. It is listed so that passportProvider
			// "tableau" is a known name, but Kind is empty: widgetgate cannot
			// refresh it, and whatever writes the passport keeps its token
			// current.
			Name: "tableau", DisplayName: "Tableau", Category: "Dashboard",
			Notes: "Custom Auth (Tableau REST API sign-in with a personal access token), not OAuth: widgetgate does not refresh it.",
		},
		{
			Name: "servicenow", DisplayName: "ServiceNow", Category: "Library", Kind: KindOAuth2,
			// Every ServiceNow customer has an instance host; the
			// passport's instance_url supplies it.
			InstanceAuthPath: "/oauth_auth.do", InstanceTokenPath: "/oauth_token.do",
			// ServiceNow reads client_id and client_secret from the body.
			AuthStyle: oauth2.AuthStyleInParams,
			Scopes:    []string{"useraccount"},
			PKCE:      true,
			Notes:     "Per-instance: the endpoints are <instance_url>/oauth_auth.do and <instance_url>/oauth_token.do, with instance_url (e.g. https://acme.service-now.com) from the passport record.",
		},
		{
			Name: "box", DisplayName: "Box", Category: "Library", Kind: KindOAuth2,
			AuthURL: "https://account.box.com/api/oauth2/authorize", TokenURL: "https://api.box.com/oauth2/token",
			// Box requires client_id and client_secret in the body.
			AuthStyle: oauth2.AuthStyleInParams,
			// Box apps carry their scopes in the developer console; no
			// scope parameter is needed.
			PKCE:       true,
			ProfileURL: "https://api.box.com/2.0/users/me", ProfileEmailPath: "$.login", ProfileIDPath: "$.id", ProfileNamePath: "$.name",
			Notes: "Box refresh tokens are single-use: every refresh returns a new one.",
		},

		// Appspace itself: API v3 tokens are created in the Appspace
		// console (subjectId + refreshToken) and refreshed with a JSON call,
		// not an OAuth grant, so there is no authorization URL.
		{
			// The developer guide's table does not list it, hence no
			// Category.
			Name: "appspace", DisplayName: "Appspace", Kind: KindAppspace,
			InstanceTokenPath: AppspaceTokenPath,
			Notes:             "Per-instance: tokens are refreshed at <instance_url>" + AppspaceTokenPath + ", with instance_url (e.g. https://acme.cloud.appspace.com) from the passport record, using its subjectId and refreshToken (see AppspaceTokenSource).",
		},
	}
}
