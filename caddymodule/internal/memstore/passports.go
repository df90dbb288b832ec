package memstore

import (
	"context"
	"fmt"
	"maps"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// PassportRecord reads <prefix>/passports/<id> with its version.
func (s *Store) PassportRecord(ctx context.Context, id string) (*vaultstore.Record, error) {
	if !vaultstore.ValidID(id) {
		return nil, passport.ErrNotFound
	}
	data, version, err := s.get(ctx, s.prefix+"/passports/"+id)
	if err != nil {
		return nil, err
	}
	return vaultstore.NewRecord(id, data, version)
}

// Passport reads <prefix>/passports/<id>.
func (s *Store) Passport(ctx context.Context, id string) (*passport.Passport, error) {
	rec, err := s.PassportRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	return rec.Passport, nil
}

// UpdatePassport writes rec with changes applied if the passport is still
// at rec.Version (else vaultstore.ErrConflict). Fields not in changes are
// kept; a change to "" deletes the field.
func (s *Store) UpdatePassport(ctx context.Context, rec *vaultstore.Record, changes map[string]string) (*vaultstore.Record, error) {
	data := maps.Clone(rec.Data)
	if data == nil {
		data = map[string]any{}
	}
	for k, v := range changes {
		if v == "" {
			delete(data, k)
		} else {
			data[k] = v
		}
	}
	id := rec.Passport.ID
	version, err := s.put(ctx, s.prefix+"/passports/"+id, data, rec.Version)
	if err != nil {
		return nil, err
	}
	return vaultstore.NewRecord(id, data, version)
}

// CreatePassport writes a new passport; vaultstore.ErrConflict if the id
// is taken.
func (s *Store) CreatePassport(ctx context.Context, id string, data map[string]any) (*vaultstore.Record, error) {
	if !vaultstore.ValidID(id) {
		return nil, fmt.Errorf("passport id %q is not valid", id)
	}
	version, err := s.put(ctx, s.prefix+"/passports/"+id, data, 0)
	if err != nil {
		return nil, err
	}
	return vaultstore.NewRecord(id, data, version)
}

// DeletePassport removes a passport and all its versions.
func (s *Store) DeletePassport(ctx context.Context, id string) error {
	return s.deleteAll(ctx, s.prefix+"/passports/"+id)
}

// ListPassports lists the passport ids.
func (s *Store) ListPassports(ctx context.Context) ([]string, error) {
	return s.list(ctx, "passports")
}

// Bindings reads <prefix>/bindings/<instance>.
func (s *Store) Bindings(ctx context.Context, instance string) (passport.Bindings, error) {
	if !vaultstore.ValidID(instance) {
		return nil, passport.ErrNotFound
	}
	data, _, err := s.get(ctx, s.prefix+"/bindings/"+instance)
	if err != nil {
		return nil, err
	}
	b := make(passport.Bindings, len(data))
	for k := range data {
		if v := str(data, k); v != "" {
			b[k] = v
		}
	}
	return b, nil
}

// PutBindings replaces the bindings of instance.
func (s *Store) PutBindings(ctx context.Context, instance string, b passport.Bindings) error {
	if !vaultstore.ValidID(instance) {
		return fmt.Errorf("instance id %q is not valid", instance)
	}
	data := make(map[string]any, len(b))
	for k, v := range b {
		data[k] = v
	}
	path := s.prefix + "/bindings/" + instance
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	s.secrets[path] = secret{data: data, version: s.secrets[path].version + 1}
	return nil
}

// ListInstances lists the instance ids that have bindings.
func (s *Store) ListInstances(ctx context.Context) ([]string, error) {
	return s.list(ctx, "bindings")
}
