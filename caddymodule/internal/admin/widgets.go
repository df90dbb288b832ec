package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/widgetdir"
)

// zipMediaType labels an uploaded widget package.
const zipMediaType = "application/zip"

// Widgets is the widgets directory as administration sees it: the
// packages serving, the ones refused, and upload and delete.
type Widgets interface {
	IDs() []string
	Widget(id string) (*schema.Widget, bool)
	Problems() []widgetdir.Problem
	Put(id string, data []byte) (*schema.Widget, error)
	Delete(id string) error
}

func (h *Handler) listWidgets() any {
	out := []widgetView{}
	for _, id := range h.Widgets.IDs() {
		if w, ok := h.Widgets.Widget(id); ok {
			out = append(out, widgetViewOf(id, w))
		}
	}
	problems := h.Widgets.Problems()
	if problems == nil {
		problems = []widgetdir.Problem{}
	}
	return map[string]any{"widgets": out, "problems": problems}
}

func widgetViewOf(id string, w *schema.Widget) widgetView {
	v := widgetView{ID: id, Authentications: []authView{}, Configurable: w.Configuration != nil && len(w.Configuration.Fields) > 0}
	if w.Bundled != nil {
		v.BundledProvider = w.Bundled.Provider()
	}
	for _, au := range w.Auths {
		v.Authentications = append(v.Authentications, authView{AuthKey: au.Key, Label: au.Label, Provider: au.Provider})
	}
	slices.SortFunc(v.Authentications, func(x, y authView) int { return strings.Compare(x.AuthKey, y.AuthKey) })
	return v
}

// putWidget installs the uploaded package as widget id. The package is
// checked whole before anything is written (widgetdir.Put); when it bundles
// a passport and none exists for that provider yet, one is created, as the
// seed's upload flow does, so that the page offers it ready to connect.
func (h *Handler) putWidget(ctx context.Context, r *http.Request, id string) (any, error) {
	tooLarge := problem.New(http.StatusRequestEntityTooLarge, "package_too_large",
		fmt.Sprintf("a widget package is at most %d MiB", schema.MaxZipBytes>>20))
	if r.ContentLength > schema.MaxZipBytes {
		return nil, tooLarge
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, schema.MaxZipBytes+1))
	if err != nil {
		return nil, badRequest("the package could not be read: " + err.Error())
	}
	if len(data) > schema.MaxZipBytes {
		return nil, tooLarge
	}
	noteAudit(ctx, func(rec *auditRecord) { rec.attrs = append(rec.attrs, slog.Int("bytes", len(data))) })
	w, err := h.Widgets.Put(id, data)
	var errs schema.Errors
	switch {
	case errors.As(err, &errs):
		prob := problem.New(http.StatusUnprocessableEntity, "invalid_package",
			fmt.Sprintf("the widget package has %d problem(s); nothing was written", len(errs)))
		prob.Widget = id
		for _, e := range errs {
			msg := ""
			if e.Err != nil {
				msg = e.Err.Error()
			}
			prob.Errors = append(prob.Errors, problem.FieldProblem{File: e.File, Field: e.Field, Message: msg})
		}
		return nil, prob
	case errors.Is(err, widgetdir.ErrFolder):
		return nil, problem.New(http.StatusConflict, "widget_is_folder",
			"this widget is a folder in the widgets directory; edit it there, or remove it before uploading")
	case err != nil:
		h.Logger.Error("admin API: widget upload failed", "widget", id, "error", err)
		return nil, problem.New(http.StatusInternalServerError, "widget_write_failed", "the package could not be written to the widgets directory")
	}
	out := map[string]any{"widget": widgetViewOf(id, w)}
	if w.Bundled == nil {
		return out, nil
	}
	p, created, err := h.bundledPassport(ctx, w.Bundled.Provider())
	if err != nil {
		return nil, err
	}
	if p != nil {
		out["passport"] = *p
		if created {
			noteAudit(ctx, func(rec *auditRecord) { rec.attrs = append(rec.attrs, slog.String("passport_created", p.ID)) })
		}
	}
	return out, nil
}

// bundledPassport returns a passport of provider name, creating one when
// there is none.
func (h *Handler) bundledPassport(ctx context.Context, name string) (view *passportView, created bool, err error) {
	prov, ok := h.provider(name)
	if !ok {
		return nil, false, nil // not managed here (no refresh for it)
	}
	ids, err := h.Store.ListPassports(ctx)
	if err != nil {
		return nil, false, err
	}
	for _, pid := range ids {
		if rec, err := h.Store.PassportRecord(ctx, pid); err == nil && rec.Passport.Provider == name {
			v := viewOf(rec.Passport)
			return &v, false, nil
		}
	}
	p, err := h.Flow.Create(ctx, prov, prov.DisplayName)
	if err != nil {
		return nil, false, err
	}
	h.Cache.Store(p)
	v := viewOf(p)
	return &v, true, nil
}

func (h *Handler) deleteWidget(id string) error {
	err := h.Widgets.Delete(id)
	switch {
	case errors.Is(err, widgetdir.ErrNotFound):
		return problem.New(http.StatusNotFound, "unknown_widget", "no such widget package")
	case err != nil:
		h.Logger.Error("admin API: widget delete failed", "widget", id, "error", err)
		return problem.New(http.StatusInternalServerError, "widget_write_failed", "the package could not be removed from the widgets directory")
	}
	return nil
}
