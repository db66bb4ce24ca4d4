import type { Requirement } from '../../runner/types.js';

const SPEC = 'FHIR R4 Search';
const SEARCH = 'https://hl7.org/fhir/R4/search.html';

function req(id: string, section: string, anchor: string, text: string, page = SEARCH): Requirement {
  return { id, spec: SPEC, section, url: `${page}#${anchor}`, text };
}

export const SEARCH_REQ = {
  matches: req('search-matches', '3.1.1 Search', 'match',
    'A search returns a Bundle of type searchset whose match entries are exactly the resources that meet all the criteria given; every returned match satisfies every parameter.'),
  string: req('search-string', '3.1.1.5.3 string', 'string',
    'By default a string parameter matches when the field equals or starts with the value, after both are normalised by case and accent; :exact matches the whole string exactly (case and accents included); :contains matches anywhere in the field.'),
  token: req('search-token', '3.1.1.5.4 token', 'token',
    'A token is matched as [code], [system]|[code], |[code] or [system]|; :not excludes resources with that code, :text matches the text of the CodeableConcept or the display of the Coding.'),
  date: req('search-date', '3.1.1.5.2 date and prefixes', 'date',
    'A date parameter is a range at the precision given; the prefixes eq, ne, lt, gt, le, ge, sa and eb compare the range of the value with the range of the parameter.'),
  quantity: req('search-quantity', '3.1.1.5.7 quantity', 'quantity',
    'A quantity parameter is [prefix][number]|[system]|[code]; the number is compared with the prefix, honouring the implicit precision of the number, and the unit when given.'),
  reference: req('search-reference', '3.1.1.5.5 reference', 'reference',
    'A reference parameter accepts [type]/[id], a bare [id] (the same when the parameter can only point to one type, or with a :[type] modifier) and absolute URLs; patient=123 and patient=Patient/123 find the same resources.'),
  missing: req('search-missing', '3.1.1.5.14 :missing', 'missing',
    ':missing=true finds resources with no value for the parameter, :missing=false those with a value.'),
  common: req('search-common', '3.1.1.4 Common parameters', 'all',
    '_id matches the logical id; _lastUpdated matches meta.lastUpdated as a date parameter.'),
  post: req('search-post', '3.1.0.9 search (GET and POST)', 'search',
    'Servers SHALL support search by GET and by POST [base]/[type]/_search with application/x-www-form-urlencoded parameters, with the same results.', 'https://hl7.org/fhir/R4/http.html'),
  chaining: req('search-chaining', '3.1.1.5.12 Chained parameters', 'chaining',
    'A chained parameter (subject:Patient.family=x) matches resources whose referenced resource matches the chained criterion; a server that does not support a chain rejects or ignores it visibly rather than returning wrong matches.'),
  include: req('search-include', '3.1.1.5.13 _include and _revinclude', 'include',
    '_include adds the resources the matches refer to, _revinclude the resources that refer to the matches, as entries with search.mode include.'),
  paging: req('search-paging', '3.1.1.6 Paging', 'count',
    '_count limits the entries per page; the next links lead through every match exactly once.', SEARCH),
} satisfies Record<string, Requirement>;
