package audit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"

	"github.com/google/uuid"

	"github.com/coffer-hsm/coffer/internal/fsutil"
)

// A closed segment's index is kept in a file next to it, audit-<seq>-<start>.idx:
//
//	header  "CAIX" | version u8 | segment size i64 | oldest t i64 | newest t i64 |
//	        entries u32 | bad lines u32 | symbols u32 | resource refs u32 |
//	        symbol bytes u32 | bloom bytes u32
//	symbols  (symbols-1) × (uvarint length | bytes); symbol 0 is ""
//	bloom    a Bloom filter of the entries' canonical event ids
//	probe    CRC-32C of everything before it
//	entries  entries × (t i64 | off i64 | n i32 | readOnly u8 | nres u16 |
//	        id symbol u32 | id UUID [16] | name, source, user, akid u32 | res u32 |
//	        region symbol u32)
//	refs     resource refs × (type u32 | name u32)
//	trailer  CRC-32C of everything before it
//
// Integers are little-endian. Opening the journal reads only the header, so a
// restart does not parse 90 days of JSON. A lookup in a region or for one
// attribute first reads only the probe part (header, symbols, bloom: a few
// KB) and skips the segment when the region or the value cannot be in it
// (the symbols hold every string of the index, regions too); otherwise it
// reads the whole file, checks it and keeps a few in a cache. A file that is
// missing, damaged, or written for a different segment size is rebuilt from
// the segment.
//
// Files of older versions hold no regions: version 1 (no symbol and bloom
// byte counts, no bloom, no probe CRC) and version 2 (the layout above
// without the entries' region). Their headers are still read at Open (the
// segment's size, event count and time range are the same in every
// version), but a lookup that needs the index rebuilds it from the segment,
// as for a damaged file, and writes it in the current version. A version 2
// file's probe part (the same layout) still lets a lookup for an attribute
// skip the segment when the value is not in it.

const (
	idxMagic       = "CAIX"
	idxVersion     = 3
	idxSuffix      = ".idx"
	idxHeaderLenV1 = 4 + 1 + 8 + 8 + 8 + 4 + 4 + 4 + 4
	idxHeaderLen   = idxHeaderLenV1 + 4 + 4
	idxEntryLen    = 8 + 8 + 4 + 1 + 2 + 4 + 16 + 4*4 + 4 + 4
	// bloomBitsPerID and bloomHashes: about 1% false positives.
	bloomBitsPerID = 10
	bloomHashes    = 7
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// idxMeta is an index file's header.
type idxMeta struct {
	segSize        int64
	oldest, newest int64
	entries        int
	badLines       int
}

// idxHead is a parsed header with the layout fields.
type idxHead struct {
	idxMeta
	version           byte
	nsyms, nres       int
	symBytes, bloomsz int // version 2 and later
}

var errIdx = errors.New("audit: segment index file is not valid")

// encodeIndex serializes x (one segment's index) with its header, in the current version.
func encodeIndex(x *index, m idxMeta) []byte {
	le := binary.LittleEndian
	var syms []byte
	for _, s := range x.syms.strs[min(1, len(x.syms.strs)):] {
		syms = binary.AppendUvarint(syms, uint64(len(s)))
		syms = append(syms, s...)
	}
	bloom := x.bloom()
	b := make([]byte, 0, idxHeaderLen+len(syms)+len(bloom)+4+x.len()*idxEntryLen+len(x.res)*8+4)
	b = append(b, idxMagic...)
	b = append(b, idxVersion)
	b = le.AppendUint64(b, uint64(m.segSize))
	b = le.AppendUint64(b, uint64(m.oldest))
	b = le.AppendUint64(b, uint64(m.newest))
	b = le.AppendUint32(b, uint32(x.len()))
	b = le.AppendUint32(b, uint32(m.badLines))
	b = le.AppendUint32(b, uint32(max(len(x.syms.strs), 1)))
	b = le.AppendUint32(b, uint32(len(x.res)))
	b = le.AppendUint32(b, uint32(len(syms)))
	b = le.AppendUint32(b, uint32(len(bloom)))
	b = append(b, syms...)
	b = append(b, bloom...)
	b = le.AppendUint32(b, crc32.Checksum(b, castagnoli))
	for i := 0; i < x.len(); i++ {
		e := x.at(i)
		b = le.AppendUint64(b, uint64(e.t))
		b = le.AppendUint64(b, uint64(e.off))
		b = le.AppendUint32(b, uint32(e.n))
		ro := byte(0)
		if e.readOnly {
			ro = 1
		}
		b = append(b, ro)
		b = le.AppendUint16(b, e.nres)
		b = le.AppendUint32(b, uint32(e.id.s))
		b = append(b, e.id.u[:]...)
		for _, v := range [...]sym{e.name, e.source, e.user, e.akid} {
			b = le.AppendUint32(b, uint32(v))
		}
		b = le.AppendUint32(b, e.res)
		b = le.AppendUint32(b, uint32(x.region(e)))
	}
	for _, r := range x.res {
		b = le.AppendUint32(b, uint32(r.typ))
		b = le.AppendUint32(b, uint32(r.name))
	}
	return le.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// bloom is the Bloom filter of x's canonical event ids (empty when it has none).
func (x *index) bloom() []byte {
	n := 0
	for i := 0; i < x.len(); i++ {
		if x.at(i).id.s == 0 {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	f := make([]byte, (n*bloomBitsPerID+7)/8)
	for i := 0; i < x.len(); i++ {
		if e := x.at(i); e.id.s == 0 {
			bloomBits(e.id.u, len(f)*8, func(bit uint64) bool { f[bit/8] |= 1 << (bit % 8); return true })
		}
	}
	return f
}

// bloomHas says whether id may be in filter f.
func bloomHas(f []byte, id uuid.UUID) bool {
	if len(f) == 0 {
		return false
	}
	return bloomBits(id, len(f)*8, func(bit uint64) bool { return f[bit/8]&(1<<(bit%8)) != 0 })
}

// bloomBits calls fn with id's bloomHashes bit positions in a filter of m
// bits (double hashing), while fn returns true; it reports whether all did.
func bloomBits(id uuid.UUID, m int, fn func(bit uint64) bool) bool {
	le := binary.LittleEndian
	h1 := mix64(le.Uint64(id[:8]) ^ mix64(le.Uint64(id[8:])))
	h2 := mix64(le.Uint64(id[8:])+0x9e3779b97f4a7c15) | 1
	for i := uint64(0); i < bloomHashes; i++ {
		if !fn((h1 + i*h2) % uint64(m)) {
			return false
		}
	}
	return true
}

// mix64 is splitmix64's finalizer.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// parseIdxHeader reads the fixed header (no checksum: that needs the rest of
// the file) of any version.
func parseIdxHeader(b []byte) (idxHead, bool) {
	if len(b) < idxHeaderLenV1 || string(b[:4]) != idxMagic || b[4] < 1 || b[4] > idxVersion {
		return idxHead{}, false
	}
	le := binary.LittleEndian
	h := idxHead{version: b[4], idxMeta: idxMeta{
		segSize:  int64(le.Uint64(b[5:])),
		oldest:   int64(le.Uint64(b[13:])),
		newest:   int64(le.Uint64(b[21:])),
		entries:  int(le.Uint32(b[29:])),
		badLines: int(le.Uint32(b[33:])),
	}, nsyms: int(le.Uint32(b[37:])), nres: int(le.Uint32(b[41:]))}
	if h.version != 1 {
		if len(b) < idxHeaderLen {
			return idxHead{}, false
		}
		h.symBytes, h.bloomsz = int(le.Uint32(b[45:])), int(le.Uint32(b[49:]))
	}
	if h.segSize < 0 || (h.entries > 0 && h.oldest > h.newest) || h.nsyms < 1 || h.symBytes < 0 || h.bloomsz < 0 {
		return idxHead{}, false
	}
	return h, true
}

// probeLen is the length of the probe part of a file of version 2 or later
// (they have the same probe layout), with its CRC.
func (h *idxHead) probeLen() int { return idxHeaderLen + h.symBytes + h.bloomsz + 4 }

// checkProbe verifies the probe part p (probeLen bytes) of a file of version
// 2 or later and returns its symbols section and bloom.
func (h *idxHead) checkProbe(p []byte) (syms, bloom []byte, ok bool) {
	if h.version < 2 || len(p) != h.probeLen() {
		return nil, nil, false
	}
	body := p[:len(p)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(p[len(p)-4:]) {
		return nil, nil, false
	}
	return body[idxHeaderLen : idxHeaderLen+h.symBytes], body[idxHeaderLen+h.symBytes:], true
}

// nextSymbol splits the first symbol off a symbols section.
func nextSymbol(p []byte) (s, rest []byte, ok bool) {
	l, k := binary.Uvarint(p)
	if k <= 0 || k != len(binary.AppendUvarint(nil, l)) || l == 0 || l > uint64(len(p)-k) {
		return nil, nil, false
	}
	return p[k : k+int(l)], p[k+int(l):], true
}

// decodeIndex parses and checks a whole index file of the current version
// (an older one is errIdx: it has no regions): the checksums, every symbol
// and resource reference, the bloom, the (t, off) order, the header's counts
// and time range, and that every line lies inside the segment.
func decodeIndex(b []byte) (*index, idxMeta, error) {
	h, ok := parseIdxHeader(b)
	if !ok || h.version != idxVersion || len(b) < h.probeLen()+4 {
		return nil, idxMeta{}, errIdx
	}
	m := h.idxMeta
	le := binary.LittleEndian
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != le.Uint32(b[len(b)-4:]) {
		return nil, idxMeta{}, errIdx
	}
	nsyms, nres := h.nsyms, h.nres
	p, bloom, ok := h.checkProbe(body[:h.probeLen()]) // symbols first, then the rest after the probe
	if !ok {
		return nil, idxMeta{}, errIdx
	}
	if nsyms > len(body)+1 || nres > len(body)/8 || m.entries > len(body)/idxEntryLen {
		return nil, idxMeta{}, errIdx
	}
	x := &index{}
	x.syms.ids = make(map[string]sym, nsyms)
	x.syms.strs = make([]string, 1, nsyms)
	for i := 1; i < nsyms; i++ {
		v, rest, ok := nextSymbol(p)
		if !ok {
			return nil, idxMeta{}, errIdx
		}
		s := string(v)
		if _, dup := x.syms.ids[s]; dup {
			return nil, idxMeta{}, errIdx
		}
		x.syms.ids[s] = sym(i)
		x.syms.strs = append(x.syms.strs, s)
		p = rest
	}
	if len(p) != 0 {
		return nil, idxMeta{}, errIdx
	}
	p = body[h.probeLen():]
	if len(p) != m.entries*idxEntryLen+nres*8 {
		return nil, idxMeta{}, errIdx
	}
	refs, p := p[m.entries*idxEntryLen:], p[:m.entries*idxEntryLen]
	x.res = make([]resSym, nres)
	for i := range x.res {
		typ, name := le.Uint32(refs[8*i:]), le.Uint32(refs[8*i+4:])
		if int(typ) >= nsyms || int(name) >= nsyms {
			return nil, idxMeta{}, errIdx
		}
		x.res[i] = resSym{sym(typ), sym(name)}
	}
	okSym := func(v uint32) bool { return int(v) < nsyms }
	x.reserve(m.entries)
	for i := 0; i < m.entries; i++ {
		r := p[i*idxEntryLen:]
		e := entry{t: int64(le.Uint64(r)), off: int64(le.Uint64(r[8:])), n: int32(le.Uint32(r[16:])),
			readOnly: r[20] == 1, nres: le.Uint16(r[21:])}
		idSym := le.Uint32(r[23:])
		copy(e.id.u[:], r[27:43])
		name, source, user, akid := le.Uint32(r[43:]), le.Uint32(r[47:]), le.Uint32(r[51:]), le.Uint32(r[55:])
		e.res = le.Uint32(r[59:])
		region := le.Uint32(r[63:])
		if r[20] > 1 || e.off < 0 || e.n < 0 || e.off+int64(e.n) >= m.segSize ||
			!okSym(idSym) || (idSym != 0 && e.id.u != uuid.Nil) || !okSym(name) || !okSym(source) || !okSym(user) || !okSym(akid) ||
			!okSym(region) || uint64(e.res)+uint64(e.nres) > uint64(nres) || (e.nres == 0 && e.res != 0) {
			return nil, idxMeta{}, errIdx
		}
		e.id.s, e.name, e.source, e.user, e.akid = sym(idSym), sym(name), sym(source), sym(user), sym(akid)
		if i > 0 {
			prev := x.at(i - 1)
			if e.t < prev.t || (e.t == prev.t && e.off <= prev.off) {
				return nil, idxMeta{}, errIdx
			}
		} else if e.t != m.oldest {
			return nil, idxMeta{}, errIdx
		}
		e.region = x.regionSym(sym(region), e.off) // offs are distinct (checked just above)
		x.push(e)
	}
	if m.entries > 0 && x.at(m.entries-1).t != m.newest {
		return nil, idxMeta{}, errIdx
	}
	if !bytes.Equal(bloom, x.bloom()) {
		return nil, idxMeta{}, errIdx
	}
	return x, m, nil
}

// probeIndex reads only the probe part of segPath's index file and says
// whether an event of region (any if "") matching attrs may be in the
// segment. ok is false when it cannot tell (no file, version 1, damaged):
// then the whole index must be loaded. A version 2 file tells only about
// the attribute (its symbols hold no regions), so that a rare value is still
// found without rebuilding every old segment's index. Callers probe only
// for a region or one attribute other than ReadOnly (see probes).
func probeIndex(segPath string, segSize int64, attrs []LookupAttribute, region string) (may, ok bool) {
	f, err := os.Open(idxPath(segPath))
	if err != nil {
		return false, false
	}
	defer f.Close()
	var hb [idxHeaderLen]byte
	if _, err := io.ReadFull(f, hb[:]); err != nil {
		return false, false
	}
	h, ok := parseIdxHeader(hb[:])
	if !ok || h.version < 2 || h.segSize != segSize || h.symBytes > 1<<30 || h.bloomsz > 1<<30 {
		return false, false
	}
	p := make([]byte, h.probeLen())
	copy(p, hb[:])
	if _, err := io.ReadFull(f, p[idxHeaderLen:]); err != nil {
		return false, false
	}
	syms, bloom, ok := h.checkProbe(p)
	if !ok {
		return false, false
	}
	// The values to find among the symbols.
	var want []string
	if region != "" && h.version >= 3 { // older files: the region may be there
		want = append(want, region)
	}
	if len(attrs) == 1 && attrs[0].Key != AttrReadOnly {
		if u, ok := canonicalUUID(attrs[0].Value); ok && attrs[0].Key == AttrEventID {
			if !bloomHas(bloom, u) {
				return false, true
			}
		} else {
			want = append(want, attrs[0].Value)
		}
	}
	found := 0
	for rest := syms; len(rest) > 0 && found < len(want); {
		v, r, ok := nextSymbol(rest)
		if !ok {
			return false, false
		}
		for _, w := range want {
			if string(v) == w {
				found++
			}
		}
		rest = r
	}
	return found == len(want), true
}

func idxPath(segPath string) string {
	return segPath[:len(segPath)-len(segSuffix)] + idxSuffix
}

// writeIndexFile writes s's index file durably (temporary file, fsync, rename).
func writeIndexFile(segPath string, x *index, m idxMeta) error {
	return fsutil.WriteFile(idxPath(segPath), encodeIndex(x, m))
}

// readIdxHeaderFile reads only the header of segPath's index file.
func readIdxHeaderFile(segPath string) (idxMeta, bool) {
	f, err := os.Open(idxPath(segPath))
	if err != nil {
		return idxMeta{}, false
	}
	defer f.Close()
	var b [idxHeaderLen]byte
	n, _ := io.ReadFull(f, b[:])
	h, ok := parseIdxHeader(b[:n])
	return h.idxMeta, ok
}
