package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// ConfigStore keeps each instance's configuration of a widget (as
// *vaultstore.Store does).
type ConfigStore interface {
	InstanceConfig(ctx context.Context, instance, widget string) (map[string]any, error)
	PutInstanceConfig(ctx context.Context, instance, widget string, values map[string]any, now time.Time) error
	DeleteInstanceConfig(ctx context.Context, instance, widget string) error
}

// ConfigCache is the request path's configuration cache (as
// *widgetcontext.Cache is).
type ConfigCache interface {
	Forget(instance, widget string)
}

// forgetConfig tells the request path that t's configuration changed.
func (h *Handler) forgetConfig(t target) {
	if h.Configs != nil {
		h.Configs.Forget(t.id, t.widget)
	}
}

// configView is an instance's configuration of a widget, for the page:
// the fields to build a form from, what the administrator set, and what
// the widget sees.
type configView struct {
	Instance      string                       `json:"instance"`
	Widget        string                       `json:"widget"`
	Fields        []fieldView                  `json:"fields"`
	Values        map[string]any               `json:"values"`
	Configuration map[string]schema.FieldValue `json:"configuration"`
}

type fieldView struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Known       bool            `json:"known"`
	Label       string          `json:"label,omitempty"`
	Description string          `json:"description,omitempty"`
	Group       string          `json:"group,omitempty"`
	Placeholder string          `json:"placeholder,omitempty"`
	Default     any             `json:"default,omitempty"`
	Options     []schema.Option `json:"options,omitempty"`
	Validation  validationView  `json:"validation"`
}

type validationView struct {
	Required  bool     `json:"required,omitempty"`
	Min       *float64 `json:"min,omitempty"`
	Max       *float64 `json:"max,omitempty"`
	MaxLength int      `json:"maxLength,omitempty"`
}

// configured returns the loaded widget t names, or 404.
func (h *Handler) configured(t target) (*schema.Configuration, error) {
	w, ok := h.Widgets.Widget(t.widget)
	if !ok {
		return nil, problem.New(http.StatusNotFound, "unknown_widget", "no widget "+t.widget+" is loaded")
	}
	return w.Configuration, nil
}

func (h *Handler) getConfig(ctx context.Context, t target) (any, error) {
	cfg, err := h.configured(t)
	if err != nil {
		return nil, err
	}
	stored, err := h.Store.InstanceConfig(ctx, t.id, t.widget)
	if errors.Is(err, vaultstore.ErrMalformedConfig) {
		// Written by hand: shown as unset, so that saving replaces it.
		h.Logger.Warn("admin API: an instance's configuration is malformed in Vault", "target", t.String(), "error", err)
		stored, err = map[string]any{}, nil
	}
	if err != nil {
		return nil, err
	}
	return configViewOf(t, cfg, stored), nil
}

// putConfig replaces the instance's values. Every field is checked
// first, and nothing is written while one is refused.
func (h *Handler) putConfig(ctx context.Context, r *http.Request, t target) (any, error) {
	cfg, err := h.configured(t)
	if err != nil {
		return nil, err
	}
	var in struct {
		Values map[string]any `json:"values"`
	}
	if err := readJSONMax(r, &in, schema.MaxConfigBytes+4<<10); err != nil {
		return nil, err
	}
	if in.Values == nil {
		return nil, badRequest(`the body is {"values": {"<field>": <value>, ...}}`)
	}
	values, bad := cfg.Check(in.Values)
	if bad != nil {
		prob := problem.New(http.StatusUnprocessableEntity, "invalid_configuration",
			fmt.Sprintf("%d value(s) refused; nothing was written", len(bad)))
		prob.Widget = t.widget
		for _, e := range bad {
			prob.Errors = append(prob.Errors, problem.FieldProblem{Field: e.Field, Message: e.Message})
		}
		return nil, prob
	}
	// Which fields are set, not their values: configuration is not secret,
	// but it stays out of logs all the same.
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	slices.Sort(names)
	noteAudit(ctx, func(rec *auditRecord) { rec.attrs = append(rec.attrs, slog.Any("fields", names)) })
	// Nothing set is the defaults: no document, as after a reset.
	write := func() error { return h.Store.PutInstanceConfig(ctx, t.id, t.widget, values, time.Now()) }
	if len(values) == 0 {
		write = func() error { return h.Store.DeleteInstanceConfig(ctx, t.id, t.widget) }
	}
	if err := write(); err != nil {
		return nil, err
	}
	h.forgetConfig(t)
	return configViewOf(t, cfg, values), nil
}

func (h *Handler) resetConfig(ctx context.Context, t target) error {
	if _, err := h.configured(t); err != nil {
		return err
	}
	if err := h.Store.DeleteInstanceConfig(ctx, t.id, t.widget); err != nil {
		return err
	}
	h.forgetConfig(t)
	return nil
}

func configViewOf(t target, cfg *schema.Configuration, stored map[string]any) configView {
	v := configView{Instance: t.id, Widget: t.widget, Fields: []fieldView{},
		Values: cfg.Current(stored), Configuration: cfg.Effective(stored)}
	if cfg == nil {
		return v
	}
	for _, f := range cfg.Fields {
		v.Fields = append(v.Fields, fieldView{Name: f.Name, Type: f.Type, Known: f.Known, Label: f.Label,
			Description: f.Description, Group: f.Group, Placeholder: f.Placeholder, Default: f.Default, Options: f.Options,
			Validation: validationView{Required: f.Required, Min: f.Min, Max: f.Max, MaxLength: f.MaxLength}})
	}
	return v
}

// readJSONMax is readJSON for bodies of up to max bytes.
func readJSONMax(r *http.Request, v any, max int) error {
	if prob := checkMediaType(r, "", true); prob != nil {
		return prob
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	if err != nil {
		return badRequest("the body could not be read: " + err.Error())
	}
	if len(data) > max {
		return problem.New(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes", max))
	}
	if err := json.Unmarshal(data, v); err != nil {
		return badRequest("the body must be JSON: " + err.Error())
	}
	return nil
}
