package vaultstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// configPath is where an instance's configuration of a widget lives,
// beside the instance's bindings: <prefix>/config/<instance>/<widget>.
func (s *Store) configPath(instance, widget string) (string, error) {
	if !ValidID(instance) || !ValidID(widget) {
		return "", fmt.Errorf("instance %q or widget %q is not a valid id", instance, widget)
	}
	return s.prefix + "/config/" + instance + "/" + widget, nil
}

// ErrMalformedConfig: the stored configuration is not a JSON object (it
// was written by hand). Readers fall back to the defaults; writing new
// values replaces it.
var ErrMalformedConfig = errors.New("the stored configuration is not a JSON object")

// InstanceConfig reads the values an administrator set for instance's
// widget (field name → value); an empty map when none are set. They are
// kept as one JSON document in the field "values", so numbers, booleans
// and text read back exactly as written, whatever KV does with types.
func (s *Store) InstanceConfig(ctx context.Context, instance, widget string) (map[string]any, error) {
	path, err := s.configPath(instance, widget)
	if err != nil {
		return nil, err
	}
	data, err := s.get(ctx, path)
	if errors.Is(err, passport.ErrNotFound) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, err
	}
	values := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader([]byte(str(data, "values"))))
	dec.UseNumber()
	if err := dec.Decode(&values); err != nil {
		return nil, fmt.Errorf("%s, field values: %w: %w", path, ErrMalformedConfig, err)
	}
	return values, nil
}

// PutInstanceConfig replaces the values of instance's widget.
func (s *Store) PutInstanceConfig(ctx context.Context, instance, widget string, values map[string]any, now time.Time) error {
	path, err := s.configPath(instance, widget)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(values)
	if err != nil {
		return fmt.Errorf("encoding the configuration of %s for %s: %w", widget, instance, err)
	}
	err = s.authorized(ctx, func() error {
		_, err := s.kv.Put(ctx, path, map[string]any{"values": string(doc), "updated": now.UTC().Format(time.RFC3339)})
		return err
	})
	if err != nil && !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%w: writing the configuration of %s for %s: %s", ErrUnavailable, widget, instance, describe(err))
	}
	return err
}

// DeleteInstanceConfig removes the values of instance's widget, so that
// every field is back at its default.
func (s *Store) DeleteInstanceConfig(ctx context.Context, instance, widget string) error {
	path, err := s.configPath(instance, widget)
	if err != nil {
		return err
	}
	return s.deleteAll(ctx, path)
}
