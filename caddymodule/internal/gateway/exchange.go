package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/refresh"
	"github.com/widgetgate/widgetgate/caddymodule/internal/upstream"
)

// exchange makes the upstream call. A provider that refuses a token we
// thought valid (401) gets one forced refresh and one retry: the schema's
// request is static, so replaying it is safe. A second 401 goes to the
// widget, and so does a 401 for a token refreshed moments ago (forced
// refreshes are bounded per passport, across replicas). Every token sent
// is added to secrets, so all of them are masked in the answer.
func (g *Gateway) exchange(ctx context.Context, c *Prepared, secrets *upstream.Secrets) (*http.Response, *problem.Problem) {
	pp := c.Passport
	for attempt := 0; ; attempt++ {
		secrets.Add(pp.AccessToken)
		req, err := g.cfg.Client.NewRequest(ctx, c.API, c.URL, c.User, pp.AccessToken)
		if err != nil {
			return nil, renderProblem(err)
		}
		resp, err := g.cfg.Client.Do(req, secrets)
		if err != nil {
			return nil, upstreamProblem(ctx, err)
		}
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 || !g.cfg.CanRefresh(pp) {
			return resp, nil
		}
		// The refused answer is kept open until we know whether a refresh
		// happens: if not, it is the widget's answer.
		fresh, err := g.cfg.Passports.Refresh(ctx, pp)
		if errors.Is(err, refresh.ErrRecentlyRefreshed) {
			return resp, nil
		}
		resp.Body.Close()
		if err != nil {
			return nil, resolveProblem(ctx, err, c.API)
		}
		g.log.Info("provider refused the token; refreshed and retried", slog.String("widget", c.API.WidgetID), slog.String("api", c.API.Name))
		pp = fresh
	}
}
