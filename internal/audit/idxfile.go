package audit

import (
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
//	        entries u32 | bad lines u32 | symbols u32 | resource refs u32
//	symbols  (symbols-1) × (uvarint length | bytes); symbol 0 is ""
//	entries  entries × (t i64 | off i64 | n i32 | readOnly u8 | nres u16 |
//	        id symbol u32 | id UUID [16] | name, source, user, akid u32 | res u32)
//	refs     resource refs × (type u32 | name u32)
//	trailer  CRC-32C of everything before it
//
// Integers are little-endian. Opening the journal reads only the header, so a
// restart does not parse 90 days of JSON; a lookup reads the whole file, checks
// it and keeps a few in a cache. A file that is missing, damaged, or written
// for a different segment size is rebuilt from the segment.

const (
	idxMagic     = "CAIX"
	idxVersion   = 1
	idxSuffix    = ".idx"
	idxHeaderLen = 4 + 1 + 8 + 8 + 8 + 4 + 4 + 4 + 4
	idxEntryLen  = 8 + 8 + 4 + 1 + 2 + 4 + 16 + 4*4 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// idxMeta is an index file's header.
type idxMeta struct {
	segSize        int64
	oldest, newest int64
	entries        int
	badLines       int
}

var errIdx = errors.New("audit: segment index file is not valid")

// encodeIndex serializes x (one segment's index) with its header.
func encodeIndex(x *index, m idxMeta) []byte {
	le := binary.LittleEndian
	b := make([]byte, 0, idxHeaderLen+x.len()*idxEntryLen+len(x.res)*8+64*len(x.syms.strs)+4)
	b = append(b, idxMagic...)
	b = append(b, idxVersion)
	b = le.AppendUint64(b, uint64(m.segSize))
	b = le.AppendUint64(b, uint64(m.oldest))
	b = le.AppendUint64(b, uint64(m.newest))
	b = le.AppendUint32(b, uint32(x.len()))
	b = le.AppendUint32(b, uint32(m.badLines))
	nsyms := max(len(x.syms.strs), 1)
	b = le.AppendUint32(b, uint32(nsyms))
	b = le.AppendUint32(b, uint32(len(x.res)))
	for _, s := range x.syms.strs[min(1, len(x.syms.strs)):] {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
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
	}
	for _, r := range x.res {
		b = le.AppendUint32(b, uint32(r.typ))
		b = le.AppendUint32(b, uint32(r.name))
	}
	return le.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// parseIdxHeader reads the fixed header (no checksum: that needs the whole file).
func parseIdxHeader(b []byte) (idxMeta, bool) {
	if len(b) < idxHeaderLen || string(b[:4]) != idxMagic || b[4] != idxVersion {
		return idxMeta{}, false
	}
	le := binary.LittleEndian
	m := idxMeta{
		segSize:  int64(le.Uint64(b[5:])),
		oldest:   int64(le.Uint64(b[13:])),
		newest:   int64(le.Uint64(b[21:])),
		entries:  int(le.Uint32(b[29:])),
		badLines: int(le.Uint32(b[33:])),
	}
	if m.segSize < 0 || (m.entries > 0 && m.oldest > m.newest) {
		return idxMeta{}, false
	}
	return m, true
}

// decodeIndex parses and checks a whole index file: the
// checksum, every symbol and resource reference, the (t, off) order, the
// header's counts and time range, and that every line lies inside the segment.
func decodeIndex(b []byte) (*index, idxMeta, error) {
	m, ok := parseIdxHeader(b)
	if !ok || len(b) < idxHeaderLen+4 {
		return nil, idxMeta{}, errIdx
	}
	le := binary.LittleEndian
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != le.Uint32(b[len(b)-4:]) {
		return nil, idxMeta{}, errIdx
	}
	nsyms, nres := int(le.Uint32(b[37:])), int(le.Uint32(b[41:]))
	p := body[idxHeaderLen:]
	if nsyms < 1 || nsyms > len(p)+1 || nres > len(p)/8 || m.entries > len(p)/idxEntryLen {
		return nil, idxMeta{}, errIdx
	}
	x := &index{}
	x.syms.ids = make(map[string]sym, nsyms)
	x.syms.strs = make([]string, 1, nsyms)
	for i := 1; i < nsyms; i++ {
		l, k := binary.Uvarint(p)
		if k <= 0 || k != len(binary.AppendUvarint(nil, l)) || l == 0 || l > uint64(len(p)-k) {
			return nil, idxMeta{}, errIdx
		}
		s := string(p[k : k+int(l)])
		if _, dup := x.syms.ids[s]; dup {
			return nil, idxMeta{}, errIdx
		}
		x.syms.ids[s] = sym(i)
		x.syms.strs = append(x.syms.strs, s)
		p = p[k+int(l):]
	}
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
		if r[20] > 1 || e.off < 0 || e.n < 0 || e.off+int64(e.n) >= m.segSize ||
			!okSym(idSym) || (idSym != 0 && e.id.u != uuid.Nil) || !okSym(name) || !okSym(source) || !okSym(user) || !okSym(akid) ||
			uint64(e.res)+uint64(e.nres) > uint64(nres) || (e.nres == 0 && e.res != 0) {
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
		x.push(e)
	}
	if m.entries > 0 && x.at(m.entries-1).t != m.newest {
		return nil, idxMeta{}, errIdx
	}
	return x, m, nil
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
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return idxMeta{}, false
	}
	return parseIdxHeader(b[:])
}
