package audit

import (
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/uuid"
)

// The index must stay invisible to the garbage collector: no pointers in an entry.
func TestIndexEntryHasNoPointers(t *testing.T) {
	var walk func(reflect.Type) bool
	walk = func(ty reflect.Type) bool {
		switch ty.Kind() {
		case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return false
		case reflect.Struct:
			for i := 0; i < ty.NumField(); i++ {
				if !walk(ty.Field(i).Type) {
					t.Errorf("entry field %s (%s) holds a pointer", ty.Field(i).Name, ty.Field(i).Type)
					return false
				}
			}
		case reflect.Array:
			return walk(ty.Elem())
		}
		return true
	}
	walk(reflect.TypeOf(entry{}))
}

// Out-of-order arrivals end up in (t, off) order across chunk boundaries, and
// every attribute reads back.
func TestIndexOrderAndAttributes(t *testing.T) {
	var x index
	r := rand.New(rand.NewSource(1))
	type ref struct {
		t   int64
		off int64
		id  string
	}
	var want []ref
	for i := 0; i < 3*chunkSize+17; i++ {
		ts := int64(i/3) - int64(r.Intn(4)) // mostly ordered, a little late
		if i%1000 == 999 {
			ts = int64(r.Intn(i / 3)) // far out of order
		}
		id := uuid.NewString()
		if i%7 == 0 {
			id = strings.ToUpper(id) // not canonical: kept as a symbol, matched exactly
		}
		x.add(&newEntry{t: ts, off: int64(i) * 100, id: id, name: "Encrypt", user: "u" + string(rune('a'+i%3)),
			res: []resRef{{"AWS::KMS::Key", "arn:k" + string(rune('0'+i%5))}}})
		want = append(want, ref{ts, int64(i) * 100, id})
	}
	sort.SliceStable(want, func(a, b int) bool { return want[a].t < want[b].t })
	if x.len() != len(want) {
		t.Fatalf("len %d", x.len())
	}
	for i, w := range want {
		e := x.at(i)
		if e.t != w.t || e.off != w.off {
			t.Fatalf("position %d: (%d,%d), want (%d,%d)", i, e.t, e.off, w.t, w.off)
		}
		id, ok := x.findEventID(w.id)
		if !ok || id != e.id {
			t.Fatalf("event id %s not found at its entry", w.id)
		}
		if rs := x.resources(e); len(rs) != 1 || x.syms.strs[rs[0].typ] != "AWS::KMS::Key" {
			t.Fatalf("resources of %d: %v", i, rs)
		}
	}
	if _, ok := x.findEventID(strings.ToLower(want[0].id) + "x"); ok {
		t.Error("unknown id found")
	}
}

// An event's region takes the byte of padding after readOnly: an entry is
// still 64 bytes, one cache line.
func TestIndexEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n != 64 {
		t.Fatalf("entry is %d bytes", n)
	}
}

// Regions past the 255 a table numbers (a client may sign for any region
// name) are kept exactly too, in memory and through an index file.
func TestIndexManyRegions(t *testing.T) {
	var x index
	region := func(i int) string {
		if i%3 == 0 {
			return "us-east-1" // a common one, among them
		}
		return fmt.Sprintf("r-%d", i%400)
	}
	const n = 1200
	for i := 0; i < n; i++ {
		x.add(&newEntry{t: int64(n - i), off: int64(i) * 100, n: 90, id: uuid.NewString(), region: region(i)}) // newest first: each goes to the front
	}
	if len(x.regions) != regionOther || len(x.otherRegions) == 0 {
		t.Fatalf("%d regions in the table, %d events beyond", len(x.regions), len(x.otherRegions))
	}
	check := func(x *index, what string) {
		t.Helper()
		for _, r := range []string{"us-east-1", "r-1", "r-250", "r-399", "r-300", ""} {
			want := 0
			for i := 0; i < n; i++ {
				if r == "" || region(i) == r {
					want++
				}
			}
			match, some := x.matcher(r, nil)
			got := 0
			for i := 0; some && i < x.len(); i++ {
				e := x.at(i)
				if match(e) {
					got++
					if r != "" && x.syms.str(x.region(e)) != r {
						t.Fatalf("%s: region %q matched an event of %q", what, r, x.syms.str(x.region(e)))
					}
				}
			}
			if got != want {
				t.Errorf("%s: region %q: %d events, want %d", what, r, got, want)
			}
		}
		if _, some := x.matcher("r-400", nil); some {
			t.Errorf("%s: a region without events matches", what)
		}
	}
	check(&x, "in memory")
	b := encodeIndex(&x, idxMeta{segSize: n * 100, oldest: 1, newest: n, entries: n})
	y, _, err := decodeIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	check(y, "read back")
}
