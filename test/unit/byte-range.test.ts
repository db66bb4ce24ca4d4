import t from 'tap';
import { contentRange, ifRangeMatches, parseIfRange, parseRange, resolveRange } from '../../src/routes/byte-range.js';

t.test('Range: one bytes range-spec, or nothing to honour', async (t) => {
  t.same(parseRange('bytes=0-99'), { kind: 'from', first: 0, last: 99 });
  t.same(parseRange('bytes=100-'), { kind: 'from', first: 100 });
  t.same(parseRange('bytes=-500'), { kind: 'suffix', length: 500 });
  t.same(parseRange('bytes=7-7'), { kind: 'from', first: 7, last: 7 }, 'a single byte');
  t.same(parseRange('BYTES=0-1'), { kind: 'from', first: 0, last: 1 }, 'range units are case-insensitive');
  t.same(parseRange('bytes= 0-1 '), { kind: 'from', first: 0, last: 1 }, 'OWS around the list element');
  t.same(parseRange('bytes=0-1,'), { kind: 'from', first: 0, last: 1 }, 'an empty list element is skipped');
  t.same(parseRange('bytes=,,-3'), { kind: 'suffix', length: 3 });
  t.same(parseRange('bytes=0-99999999999999999999'), { kind: 'from', first: 0, last: 1e20 }, 'a huge last-pos is kept (clamped later)');

  t.equal(parseRange(undefined), undefined, 'no header');
  t.equal(parseRange('bytes=0-1,5-6'), undefined, 'several ranges are ignored');
  t.equal(parseRange('bytes=0-1, -2'), undefined);
  t.equal(parseRange('items=0-1'), undefined, 'another unit');
  t.equal(parseRange('bytes=5-2'), undefined, 'last-pos before first-pos is invalid');
  t.equal(parseRange('bytes=abc'), undefined);
  t.equal(parseRange('bytes=-'), undefined);
  t.equal(parseRange('bytes='), undefined);
  t.equal(parseRange('bytes=,'), undefined, 'no range-spec at all');
  t.equal(parseRange('bytes 0-1'), undefined, 'no "="');
  t.equal(parseRange('bytes=0x10-'), undefined);
  t.equal(parseRange('bytes=-1-2'), undefined);
  t.equal(parseRange('bytes=+1-2'), undefined);
  t.equal(parseRange('bytes=1.5-2'), undefined);
  t.equal(parseRange('by tes=0-1'), undefined, 'the unit is a token');
  t.equal(parseRange('=0-1'), undefined);
});

t.test('a range against the representation size', async (t) => {
  t.same(resolveRange({ kind: 'from', first: 0, last: 99 }, 1000), { start: 0, end: 99 });
  t.same(resolveRange({ kind: 'from', first: 999, last: 999 }, 1000), { start: 999, end: 999 }, 'the last byte');
  t.same(resolveRange({ kind: 'from', first: 10, last: 5000 }, 1000), { start: 10, end: 999 }, 'a last-pos past the end stops at the last byte');
  t.same(resolveRange({ kind: 'from', first: 500 }, 1000), { start: 500, end: 999 });
  t.same(resolveRange({ kind: 'from', first: 0 }, 1000), { start: 0, end: 999 }, 'bytes=0- is the whole, as a 206');
  t.same(resolveRange({ kind: 'suffix', length: 100 }, 1000), { start: 900, end: 999 });
  t.same(resolveRange({ kind: 'suffix', length: 5000 }, 1000), { start: 0, end: 999 }, 'a suffix longer than the representation takes it all');
  t.same(resolveRange({ kind: 'suffix', length: 1 }, 1), { start: 0, end: 0 });

  t.equal(resolveRange({ kind: 'from', first: 1000 }, 1000), 'unsatisfiable', 'first byte at the end');
  t.equal(resolveRange({ kind: 'from', first: 1000, last: 2000 }, 1000), 'unsatisfiable');
  t.equal(resolveRange({ kind: 'from', first: 1e20 }, 1000), 'unsatisfiable');
  t.equal(resolveRange({ kind: 'suffix', length: 0 }, 1000), 'unsatisfiable', 'bytes=-0 names no byte');
  t.equal(resolveRange({ kind: 'from', first: 0 }, 0), 'unsatisfiable', 'an empty representation has no first byte');
  t.equal(resolveRange({ kind: 'suffix', length: 0 }, 0), 'unsatisfiable');
  t.equal(resolveRange({ kind: 'suffix', length: 5 }, 0), 'whole', 'a suffix of nothing: the (empty) whole');
});

t.test('Content-Range', async (t) => {
  t.equal(contentRange(1000, { start: 0, end: 99 }), 'bytes 0-99/1000');
  t.equal(contentRange(1000), 'bytes */1000');
});

t.test('If-Range: an entity-tag, an HTTP-date, or neither', async (t) => {
  t.same(parseIfRange('"3"'), { kind: 'etag', weak: false, tag: '"3"' });
  t.same(parseIfRange('W/"3"'), { kind: 'etag', weak: true, tag: '"3"' });
  t.same(parseIfRange(' "a-b" '), { kind: 'etag', weak: false, tag: '"a-b"' });
  t.same(parseIfRange('Wed, 21 Oct 2015 07:28:00 GMT'), { kind: 'date', text: 'Wed, 21 Oct 2015 07:28:00 GMT' });
  t.equal(parseIfRange(undefined), undefined);
  for (const text of ['3', '"3', 'W/3', 'w/"3"', '"a"b"', '', '2015-10-21', 'Wednesday, 21-Oct-15 07:28:00 GMT', 'Wed, 21 Oct 2015 07:28:00 UTC']) {
    t.same(parseIfRange(text), { kind: 'invalid' }, JSON.stringify(text));
  }
});

t.test('If-Range matches by strong comparison, or by the exact Last-Modified', async (t) => {
  const weak = { etag: 'W/"3"', lastModified: 'Wed, 21 Oct 2015 07:28:00 GMT' };
  const strong = { etag: '"3"', lastModified: weak.lastModified };
  t.notOk(ifRangeMatches(parseIfRange('W/"3"')!, weak), 'a weak tag never matches');
  t.notOk(ifRangeMatches(parseIfRange('"3"')!, weak), 'nor does a strong one against our weak ETag');
  t.notOk(ifRangeMatches(parseIfRange('W/"3"')!, strong));
  t.ok(ifRangeMatches(parseIfRange('"3"')!, strong), 'two equal strong tags');
  t.notOk(ifRangeMatches(parseIfRange('"4"')!, strong));
  t.ok(ifRangeMatches(parseIfRange('Wed, 21 Oct 2015 07:28:00 GMT')!, weak), 'the Last-Modified date');
  t.notOk(ifRangeMatches(parseIfRange('Wed, 21 Oct 2015 07:28:01 GMT')!, weak), 'another second');
  t.notOk(ifRangeMatches(parseIfRange('garbage')!, weak));
});
