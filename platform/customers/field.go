package customers

import (
	"bytes"
	"encoding/json"
)

// Field is one field of a partial update, with three states: absent (Set is false:
// leave the stored value alone), null (Set is true, Value is nil: clear it) and a
// value (Set is true, Value holds it). JSON decoding fills it from a request body;
// Go callers use Some and Null.
type Field[T any] struct {
	Set   bool
	Value *T
}

// Some returns a Field that sets v.
func Some[T any](v T) Field[T] { return Field[T]{Set: true, Value: &v} }

// Null returns a Field that clears the stored value.
func Null[T any]() Field[T] { return Field[T]{Set: true} }

// UnmarshalJSON records that the field was present. Numbers inside the value are
// kept as json.Number, so metadata such as 12345678901234567 is stored exactly.
func (f *Field[T]) UnmarshalJSON(b []byte) error {
	f.Set = true
	f.Value = nil
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v T
	if err := dec.Decode(&v); err != nil {
		return err
	}
	f.Value = &v
	return nil
}

// MarshalJSON writes the value, or null when the field is absent or cleared.
func (f Field[T]) MarshalJSON() ([]byte, error) {
	if f.Value == nil {
		return []byte("null"), nil
	}
	return json.Marshal(*f.Value)
}

// JSONSchemaAlias makes schema generators describe a Field as its value type, which
// is what a client sends.
func (Field[T]) JSONSchemaAlias() any { return new(T) }
