package customers

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"math/big"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/punchcard-loyalty/punchcard/platform/metadata"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// Limits on customer fields, in characters unless named bytes. They are generous
// bounds against abuse, not a data model: country, for one, takes a name or a code.
const (
	MaxSourceID       = 255
	MaxName           = 200
	MaxEmail          = 254
	MaxPhone          = 50
	MaxDescription    = 2000
	MaxAddressPart    = 255
	MaxCountry        = 100
	MaxConsentID      = 100
	MaxConsentsPerPut = 100
)

// Input creates or changes a customer. Each Field is absent (leave the value),
// null (clear it) or a value (set it); an empty string clears too.
type Input struct {
	// ID names an existing customer for Upsert to update (Voucherify's upsert by
	// id); Update ignores it.
	ID string

	// SourceID is the caller's own key for the customer. Upsert looks the customer
	// up by it; Update changes it.
	SourceID    Field[string]
	Name        Field[string]
	Email       Field[string]
	Phone       Field[string]
	Birthdate   Field[string] // YYYY-MM-DD
	Birthday    Field[string] // Voucherify's deprecated name of Birthdate, used when Birthdate is absent
	Description Field[string]
	// Address replaces the whole address; an address with no fields clears it.
	Address Field[Address]
	// Metadata replaces the whole metadata object; {} clears it.
	Metadata Field[map[string]any]
}

// Profile is a customer's data as a request carries it: Voucherify's customer
// fields besides those that name the customer. POST /v1/customers and the
// customer object of a validation, redemption or qualification share it. A field
// that is absent is left alone; null or "" clears it.
type Profile struct {
	Name        Field[string]         `json:"name,omitempty" jsonschema:"nullable,maxLength=200"`
	Email       Field[string]         `json:"email,omitempty" jsonschema:"nullable,maxLength=254,format=email"`
	Phone       Field[string]         `json:"phone,omitempty" jsonschema:"nullable,maxLength=50"`
	Birthdate   Field[string]         `json:"birthdate,omitempty" jsonschema:"nullable,format=date,description=YYYY-MM-DD; not in the future"`
	Birthday    Field[string]         `json:"birthday,omitempty" jsonschema:"nullable,format=date,description=Deprecated: Voucherify's old name of birthdate; used when birthdate is absent"`
	Description Field[string]         `json:"description,omitempty" jsonschema:"nullable,maxLength=2000"`
	Address     Field[Address]        `json:"address,omitempty" jsonschema:"nullable,description=Replaces the whole address; null or {} removes it"`
	Metadata    Field[map[string]any] `json:"metadata,omitempty" jsonschema:"nullable,description=Replaces the whole metadata object (at most 100 keys and 16 KiB); null or {} removes it"`
}

// Input is the profile as an Input naming no customer.
func (p Profile) Input() Input {
	return Input{Name: p.Name, Email: p.Email, Phone: p.Phone, Birthdate: p.Birthdate, Birthday: p.Birthday,
		Description: p.Description, Address: p.Address, Metadata: p.Metadata}
}

// Empty reports whether the profile sets no field.
func (p Profile) Empty() bool { return p == Profile{} }

// CheckProfile normalizes the customer data a validation, redemption or
// qualification request carries as POST /v1/customers does, naming a bad field
// under prefix, such as "customer.".
func CheckProfile(prefix string, p Profile, today time.Time) (Input, error) {
	out, err := p.Input().normalize(today)
	var e *problem.Error
	if errors.As(err, &e) && e.Kind == problem.KindInvalid && e.Field != "" {
		q := *e
		q.Field, q.Details = prefix+e.Field, prefix+e.Details
		return out, &q
	}
	return out, err
}

// normalize checks every field, naming the first bad one, and returns the input
// with email trimmed and empty values turned into nulls. today is the current time,
// against which birthdates may not lie in the future.
func (in Input) normalize(today time.Time) (Input, error) {
	if in.SourceID.Set && in.SourceID.Value != nil {
		if err := CheckSourceID("source_id", *in.SourceID.Value); err != nil {
			return in, err
		}
	}
	var err error
	if in.Name, err = checkString("name", in.Name, MaxName); err != nil {
		return in, err
	}
	if in.Email.Value != nil {
		in.Email = Some(strings.TrimSpace(*in.Email.Value))
	}
	if in.Email, err = checkString("email", in.Email, MaxEmail); err != nil {
		return in, err
	}
	if in.Email.Value != nil {
		addr, perr := mail.ParseAddress(*in.Email.Value)
		if perr != nil || addr.Address != *in.Email.Value {
			return in, problem.Invalid("email", "email must be a plain email address such as ada@example.com")
		}
	}
	if in.Phone, err = checkString("phone", in.Phone, MaxPhone); err != nil {
		return in, err
	}
	if in.Birthdate, err = checkDate("birthdate", in.Birthdate, today); err != nil {
		return in, err
	}
	if in.Birthday, err = checkDate("birthday", in.Birthday, today); err != nil {
		return in, err
	}
	if in.Description, err = checkString("description", in.Description, MaxDescription); err != nil {
		return in, err
	}
	if in.Address.Value != nil {
		a := *in.Address.Value
		for _, p := range []struct {
			name  string
			value string
			max   int
		}{
			{"address.city", a.City, MaxAddressPart},
			{"address.state", a.State, MaxAddressPart},
			{"address.line_1", a.Line1, MaxAddressPart},
			{"address.line_2", a.Line2, MaxAddressPart},
			{"address.country", a.Country, MaxCountry},
			{"address.postal_code", a.PostalCode, MaxAddressPart},
		} {
			if utf8.RuneCountInString(p.value) > p.max {
				return in, problem.Invalidf(p.name, "%s must be at most %d characters", p.name, p.max)
			}
			if strings.ContainsRune(p.value, 0) {
				return in, errNUL(p.name)
			}
		}
		if a.empty() {
			in.Address = Null[Address]()
		}
	}
	if in.Metadata.Value != nil {
		m := *in.Metadata.Value
		if err := metadata.Check("metadata", m); err != nil {
			return in, err
		}
		if len(m) == 0 {
			in.Metadata = Null[map[string]any]()
		}
	}
	return in, nil
}

func checkString(name string, f Field[string], max int) (Field[string], error) {
	if f.Value == nil {
		return f, nil
	}
	if *f.Value == "" {
		return Null[string](), nil
	}
	if utf8.RuneCountInString(*f.Value) > max {
		return f, problem.Invalidf(name, "%s must be at most %d characters", name, max)
	}
	if strings.ContainsRune(*f.Value, 0) {
		return f, errNUL(name)
	}
	return f, nil
}

// CheckSourceID refuses a source_id a customer cannot have, naming field: blank,
// longer than MaxSourceID or holding NUL. A redemption that names a new customer
// checks its source_id with it before creating the customer.
func CheckSourceID(field, v string) error {
	switch {
	case strings.TrimSpace(v) == "":
		return problem.Invalidf(field, "%s must not be empty; send null to remove it", field)
	case utf8.RuneCountInString(v) > MaxSourceID:
		return problem.Invalidf(field, "%s must be at most %d characters", field, MaxSourceID)
	case strings.ContainsRune(v, 0):
		return errNUL(field)
	}
	return nil
}

// errNUL rejects text holding U+0000, which PostgreSQL cannot store in text or jsonb
// and which no real name, address or identifier contains.
func errNUL(name string) error {
	return problem.Invalidf(name, "%s must not contain the NUL character (U+0000)", name)
}

func checkDate(name string, f Field[string], now time.Time) (Field[string], error) {
	if f.Value == nil {
		return f, nil
	}
	if *f.Value == "" {
		return Null[string](), nil
	}
	d, err := time.Parse(time.DateOnly, *f.Value)
	if err != nil {
		return f, problem.Invalidf(name, "%s must be a real date in the form YYYY-MM-DD", name)
	}
	// A birthdate is a calendar date without a zone: up to tomorrow in UTC it may
	// already be today somewhere.
	if d.After(now.UTC().AddDate(0, 0, 1)) {
		return f, problem.Invalidf(name, "%s must not be in the future", name)
	}
	return f, nil
}

// ApplyTo writes the input's fields into c and returns the names of the fields
// whose value changed, in a fixed order: the names of their columns. The names,
// never the values, go into the audit log. in must be normalized.
func (in Input) ApplyTo(c *Customer) []string {
	var changed []string
	str := func(name string, f Field[string], dst *string) {
		if !f.Set {
			return
		}
		v := ""
		if f.Value != nil {
			v = *f.Value
		}
		if *dst != v {
			*dst = v
			changed = append(changed, name)
		}
	}
	str("source_id", in.SourceID, &c.SourceID)
	str("name", in.Name, &c.Name)
	str("email", in.Email, &c.Email)
	str("phone", in.Phone, &c.Phone)
	birthdate := in.Birthdate
	if !birthdate.Set {
		birthdate = in.Birthday
	}
	str("birthdate", birthdate, &c.Birthdate)
	str("description", in.Description, &c.Description)
	if in.Address.Set {
		var a *Address
		if in.Address.Value != nil {
			v := *in.Address.Value
			a = &v
		}
		if !addressEqual(c.Address, a) {
			c.Address = a
			changed = append(changed, "address")
		}
	}
	if in.Metadata.Set {
		var m map[string]any
		if in.Metadata.Value != nil {
			m = maps.Clone(*in.Metadata.Value)
		}
		if !metadataEqual(c.Metadata, m) {
			c.Metadata = m
			changed = append(changed, "metadata")
		}
	}
	return changed
}

func addressEqual(a, b *Address) bool {
	if a.empty() || b.empty() {
		return a.empty() == b.empty()
	}
	return *a == *b
}

// metadataEqual compares metadata as JSON values, numbers by value: PostgreSQL's
// jsonb stores 1e2 as 100, and a request that sends 1e2 again changes nothing.
func metadataEqual(a, b map[string]any) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	return jsonEqual(a, b)
}

func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		return ok && slices.EqualFunc(a, b, jsonEqual)
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		// Floats of 256 bits (77 digits), not exact rationals: an exponent such
		// as 1e999999999 must cost nothing to compare.
		x, _, errA := big.ParseFloat(string(a), 10, 256, big.ToNearestEven)
		y, _, errB := big.ParseFloat(string(b), 10, 256, big.ToNearestEven)
		if errA != nil || errB != nil || x.IsInf() || y.IsInf() {
			return a == b
		}
		return x.Cmp(y) == 0
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
