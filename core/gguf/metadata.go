package gguf

import "fmt"

// KV is one metadata entry.
type KV struct {
	Key   string
	Value Value
}

// Metadata is a file's key-value metadata, in file order, with typed
// lookups. Every getter fails with an error wrapping ErrNotFound when the
// key is absent and ErrWrongType when its value has another type; the
// error names the key.
type Metadata struct {
	kvs   []KV
	index map[string]int
}

// Keys returns the keys in file order.
func (m *Metadata) Keys() []string {
	keys := make([]string, len(m.kvs))
	for i, kv := range m.kvs {
		keys[i] = kv.Key
	}
	return keys
}

// All returns every entry in file order. The slice is the Metadata's own:
// do not modify it.
func (m *Metadata) All() []KV { return m.kvs }

// Lookup returns the value of key.
func (m *Metadata) Lookup(key string) (Value, bool) {
	i, ok := m.index[key]
	if !ok {
		return Value{}, false
	}
	return m.kvs[i].Value, true
}

// Has reports whether key is present.
func (m *Metadata) Has(key string) bool { _, ok := m.index[key]; return ok }

func get[T any](m *Metadata, key string, as func(Value) (T, error)) (T, error) {
	v, ok := m.Lookup(key)
	if !ok {
		var zero T
		return zero, fmt.Errorf("gguf: metadata %s: %w", key, ErrNotFound)
	}
	x, err := as(v)
	if err != nil {
		return x, fmt.Errorf("gguf: metadata %s: %w", key, err)
	}
	return x, nil
}

// String returns a string value.
func (m *Metadata) String(key string) (string, error) { return get(m, key, Value.AsString) }

// Uint returns a non-negative integer value of any width.
func (m *Metadata) Uint(key string) (uint64, error) { return get(m, key, Value.AsUint) }

// Int returns an integer value of any width.
func (m *Metadata) Int(key string) (int64, error) { return get(m, key, Value.AsInt) }

// Float returns a float32 or float64 value.
func (m *Metadata) Float(key string) (float64, error) { return get(m, key, Value.AsFloat) }

// Bool returns a bool value.
func (m *Metadata) Bool(key string) (bool, error) { return get(m, key, Value.AsBool) }

// Strings returns an array of strings (the Metadata's own slice).
func (m *Metadata) Strings(key string) ([]string, error) { return get(m, key, Value.AsStrings) }

// Ints returns an array of integers as int64s.
func (m *Metadata) Ints(key string) ([]int64, error) { return get(m, key, Value.AsInts) }

// Floats returns an array of floats as float64s.
func (m *Metadata) Floats(key string) ([]float64, error) { return get(m, key, Value.AsFloats) }
