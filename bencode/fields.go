package bencode

import (
	"reflect"
	"sort"
	"strings"
	"sync"
)

// field is one encodable struct field.
type field struct {
	name      string
	index     []int
	omitEmpty bool
}

// structFields lists a struct's fields sorted by bencoded name, which is the
// order the encoder needs; byName serves the decoder.
type structFields struct {
	list   []field
	byName map[string]*field
}

var fieldCache sync.Map // reflect.Type → *structFields

func cachedFields(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f, _ := fieldCache.LoadOrStore(t, typeFields(t))
	return f.(*structFields)
}

func typeFields(t reflect.Type) *structFields {
	var list []field
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			tag := sf.Tag.Get("bencode")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), index...), i)
			if sf.Anonymous && name == "" {
				ft := sf.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft, idx)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			list = append(list, field{name: name, index: idx, omitEmpty: hasOpt(opts, "omitempty")})
		}
	}
	walk(t, nil)
	// Shallower fields win over embedded ones of the same name, as in encoding/json.
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].name != list[j].name {
			return list[i].name < list[j].name
		}
		return len(list[i].index) < len(list[j].index)
	})
	out := list[:0]
	for i, f := range list {
		if i > 0 && f.name == list[i-1].name {
			continue
		}
		out = append(out, f)
	}
	sf := &structFields{list: out, byName: make(map[string]*field, len(out))}
	for i := range sf.list {
		sf.byName[sf.list[i].name] = &sf.list[i]
	}
	return sf
}

func hasOpt(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}
