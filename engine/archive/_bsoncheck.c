/* Checks that concatenated BSON documents are well formed, building nothing: the structural checks pymongo's
 * C decoder makes while it decodes (lengths, terminators, element types, strict UTF-8 in keys and strings,
 * binary subtype 2's inner length, code-with-scope's lengths, boolean bytes), at memory speed instead of the
 * cost of a Python object per value. No maintained library offers this to Python: pymongo builds every value,
 * python-bsonjs builds JSON (both measured slower), libbson's bson_validate is not exposed to Python.
 *
 * engine.bson_check calls it; where it says "bad", engine.bson_check asks pymongo's decoder again before
 * calling an archive corrupt, so a stricter check here can never condemn a good archive. The property tests
 * (tests/test_bson_check.py) hold the two to the same verdicts on mutated documents. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 200

typedef struct {
    const char *error; /* the first problem found, or NULL */
} Walk;

static int fail(Walk *walk, const uint8_t *at, const char *why) {
    (void)at; /* where the problem is: kept at every call for reading, reported per document */
    if (walk->error == NULL) walk->error = why;
    return 0;
}

static int32_t read_int32(const uint8_t *p) {
    return (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24));
}

/* Strict UTF-8 as CPython decodes it: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int valid_utf8(const uint8_t *p, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            /* Runs of ASCII, eight bytes at a time. */
            while (i + 8 <= n) {
                uint64_t chunk;
                memcpy(&chunk, p + i, 8);
                if (chunk & 0x8080808080808080ULL) break;
                i += 8;
            }
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (p[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n || (p[i + 1] & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80) return 0;
            if (c == 0xE0 && p[i + 1] < 0xA0) return 0;  /* overlong */
            if (c == 0xED && p[i + 1] > 0x9F) return 0;  /* surrogate */
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n || (p[i + 1] & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80 || (p[i + 3] & 0xC0) != 0x80)
                return 0;
            if (c == 0xF0 && p[i + 1] < 0x90) return 0;  /* overlong */
            if (c == 0xF4 && p[i + 1] > 0x8F) return 0;  /* above U+10FFFF */
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

/* A NUL-terminated name inside [p, end): its length, or -1. */
static Py_ssize_t cstring(const uint8_t *p, const uint8_t *end) {
    const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
    return nul == NULL ? -1 : nul - p;
}

/* A length-prefixed string at p (int32 length counting the NUL, then the bytes, then NUL): its full size. */
static Py_ssize_t string_value(Walk *walk, const uint8_t *p, const uint8_t *end) {
    if (end - p < 4) return fail(walk, p, "string runs past the document"), -1;
    int32_t length = read_int32(p);
    if (length < 1 || length > end - p - 4) return fail(walk, p, "invalid string length"), -1;
    if (p[4 + length - 1] != 0) return fail(walk, p, "string not terminated"), -1;
    if (!valid_utf8(p + 4, length - 1)) return fail(walk, p, "string is not valid UTF-8"), -1;
    return 4 + (Py_ssize_t)length;
}

static int document(Walk *walk, const uint8_t *p, Py_ssize_t available, int is_array, int depth);

/* One element's value of `type` at p, ending before `end`: its size, or -1. */
static Py_ssize_t value(Walk *walk, uint8_t type, const uint8_t *p, const uint8_t *end, int depth) {
    Py_ssize_t left = end - p;
    switch (type) {
    case 0x01: case 0x09: case 0x11: case 0x12:  /* double, datetime, timestamp, int64 */
        return left >= 8 ? 8 : (fail(walk, p, "value runs past the document"), -1);
    case 0x10:  /* int32 */
        return left >= 4 ? 4 : (fail(walk, p, "value runs past the document"), -1);
    case 0x13:  /* decimal128 */
        return left >= 16 ? 16 : (fail(walk, p, "value runs past the document"), -1);
    case 0x07:  /* ObjectId */
        return left >= 12 ? 12 : (fail(walk, p, "value runs past the document"), -1);
    case 0x06: case 0x0A: case 0x7F: case 0xFF:  /* undefined, null, MaxKey, MinKey */
        return 0;
    case 0x08:  /* boolean */
        if (left < 1) return fail(walk, p, "value runs past the document"), -1;
        return p[0] <= 1 ? 1 : (fail(walk, p, "invalid boolean value"), -1);
    case 0x02: case 0x0D: case 0x0E:  /* string, JavaScript code, symbol */
        return string_value(walk, p, end);
    case 0x03: case 0x04: {  /* document, array */
        if (left < 5) return fail(walk, p, "document runs past its parent"), -1;
        int32_t size = read_int32(p);
        if (size < 5 || size > left) return fail(walk, p, "invalid document length"), -1;
        return document(walk, p, size, type == 0x04, depth + 1) ? size : -1;
    }
    case 0x05: {  /* binary */
        if (left < 5) return fail(walk, p, "binary runs past the document"), -1;
        int32_t length = read_int32(p);
        if (length < 0 || length > left - 5) return fail(walk, p, "invalid binary length"), -1;
        if (p[4] == 2) {  /* the old binary subtype holds its own length again */
            if (length < 4 || read_int32(p + 5) != length - 4) return fail(walk, p, "invalid binary subtype 2 length"), -1;
        }
        return 5 + (Py_ssize_t)length;
    }
    case 0x0B: {  /* regular expression: pattern and flags, both NUL-terminated */
        Py_ssize_t pattern = cstring(p, end);
        if (pattern < 0) return fail(walk, p, "regex pattern not terminated"), -1;
        if (!valid_utf8(p, pattern)) return fail(walk, p, "regex pattern is not valid UTF-8"), -1;
        Py_ssize_t flags = cstring(p + pattern + 1, end);
        if (flags < 0) return fail(walk, p, "regex flags not terminated"), -1;
        if (!valid_utf8(p + pattern + 1, flags)) return fail(walk, p, "regex flags are not valid UTF-8"), -1;
        return pattern + 1 + flags + 1;
    }
    case 0x0C: {  /* DBPointer: a string, then an ObjectId */
        Py_ssize_t size = string_value(walk, p, end);
        if (size < 0) return -1;
        return end - p - size >= 12 ? size + 12 : (fail(walk, p, "value runs past the document"), -1);
    }
    case 0x0F: {  /* code with scope: total length, code string, scope document */
        if (left < 4) return fail(walk, p, "value runs past the document"), -1;
        int32_t total = read_int32(p);
        if (total < 14 || total > left) return fail(walk, p, "invalid code with scope length"), -1;
        const uint8_t *scope_end = p + total;
        Py_ssize_t code = string_value(walk, p + 4, scope_end);
        if (code < 0) return -1;
        const uint8_t *scope = p + 4 + code;
        if (scope_end - scope < 5) return fail(walk, scope, "invalid code with scope length"), -1;
        int32_t scope_size = read_int32(scope);
        if (scope_size != scope_end - scope) return fail(walk, scope, "invalid code with scope length"), -1;
        return document(walk, scope, scope_size, 0, depth + 1) ? total : -1;
    }
    default:
        return fail(walk, p - 1, "unknown element type"), -1;
    }
}

/* One document of `size` bytes at p (its length already checked against what is available). */
static int document(Walk *walk, const uint8_t *p, Py_ssize_t size, int is_array, int depth) {
    if (depth > MAX_DEPTH) return fail(walk, p, "documents nested too deep");
    const uint8_t *end = p + size - 1; /* the terminating NUL */
    if (*end != 0) return fail(walk, end, "document not terminated");
    const uint8_t *at = p + 4;
    while (at < end) {
        uint8_t type = *at++;
        Py_ssize_t name = cstring(at, end);
        if (name < 0) return fail(walk, at, "field name not terminated");
        if (!is_array && !valid_utf8(at, name)) return fail(walk, at, "field name is not valid UTF-8");
        at += name + 1;
        Py_ssize_t used = value(walk, type, at, end, depth);
        if (used < 0) return 0;
        at += used;
    }
    return at == end ? 1 : fail(walk, end, "elements run past the document");
}

/* check(buffer, max_size, validate, start) -> (documents, consumed): every whole document from `start` on is
 * framed (length within 5..max_size, trailing NUL) and, with `validate`, checked throughout; `consumed` is where
 * the first incomplete document (to be completed by the next read) starts. A bad document raises
 * ValueError(why, where the document starts). The GIL is released while it runs. */
static PyObject *check(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t max_size, at;
    int validate;
    if (!PyArg_ParseTuple(args, "y*npn", &view, &max_size, &validate, &at)) return NULL;
    const uint8_t *data = view.buf;
    Py_ssize_t length = view.len, documents = 0;
    Walk walk = {NULL};
    if (at < 0 || at > length) at = length;
    Py_BEGIN_ALLOW_THREADS
    while (length - at >= 4) {
        int32_t size = read_int32(data + at);
        if (size < 5 || size > max_size) {
            walk.error = "impossible document length";
            break;
        }
        if (size > length - at) break;
        if (data[at + size - 1] != 0) {
            walk.error = "document not terminated";
            break;
        }
        if (validate && !document(&walk, data + at, size, 0, 0)) break;
        at += size;
        documents++;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (walk.error != NULL) {
        PyObject *details = Py_BuildValue("(sn)", walk.error, at);
        if (details != NULL) {
            PyErr_SetObject(PyExc_ValueError, details);
            Py_DECREF(details);
        }
        return NULL;
    }
    return Py_BuildValue("(nn)", documents, at);
}

static PyMethodDef methods[] = {
    {"check", check, METH_VARARGS, "check(buffer, max_size, validate, start) -> (documents, consumed); ValueError(why, start) when bad"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_bsoncheck", NULL, -1, methods};

PyMODINIT_FUNC PyInit__bsoncheck(void) { return PyModule_Create(&module); }
