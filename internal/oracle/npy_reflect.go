package oracle

import "reflect"

// reflectPtr returns a pointer to a copy of the slice header s, which npyio
// fills in place.
func reflectPtr(s any) any {
	v := reflect.ValueOf(s)
	p := reflect.New(v.Type())
	p.Elem().Set(v)
	return p.Interface()
}

func derefSlice(p any) any { return reflect.ValueOf(p).Elem().Interface() }

func sliceLen(s any) int { return reflect.ValueOf(s).Len() }
