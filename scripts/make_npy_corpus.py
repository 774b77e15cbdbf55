#!/usr/bin/python3
"""Writes the committed .npy corpus tests/data/npy_corpus/: hostile and malformed
files (and a few valid ones) with, in EXPECTED.tsv, what the reader must say
about each (`OK` or a substring of the error). tests/npy_test.cpp replays every
file against dfw::read_npy; scripts/fuzz.sh seeds the fuzzer with them.

  /usr/bin/python3 scripts/make_npy_corpus.py           # (re)write the corpus
  /usr/bin/python3 scripts/make_npy_corpus.py --check   # exit 1 if the committed
                                                        # files differ from this script
Plain Python (no numpy), so the bytes are exactly what is written here.
"""
import argparse
import os
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "npy_corpus")
MAGIC = b"\x93NUMPY"


def header(descr="'<f4'", order="False", shape="(2, 3)", text=None):
    """The header dict as numpy writes it, padded with spaces and '\\n' to 64 bytes."""
    h = text if text is not None else "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, order, shape)
    pad = (64 - (10 + len(h) + 1) % 64) % 64
    return (h + " " * pad + "\n").encode("latin-1")


def npy(h, data=b"", major=1, header_len=None):
    """Preamble + header + data; header_len overrides the stored length."""
    n = len(h) if header_len is None else header_len
    pre = MAGIC + bytes([major, 0]) + (struct.pack("<H", n) if major == 1 else struct.pack("<I", n))
    return pre + h + data


def floats(n, fmt="<f"):
    return b"".join(struct.pack(fmt, 0.5 * i - 1.0) for i in range(n))


def corpus():
    """(file name, bytes, expected): expected is 'OK' or a substring of the error."""
    six_f4, six_f8 = floats(6), floats(6, "<d")
    return [
        # valid files: the reader accepts them (and they seed the fuzzer)
        ("valid_f4.npy", npy(header(), six_f4), "OK"),
        ("valid_f8_v2.npy", npy(header(descr="'<f8'"), six_f8, major=2), "OK"),
        ("valid_scalar_v3.npy", npy(header(shape="()"), floats(1), major=3), "OK"),
        ("valid_empty_dim.npy", npy(header(shape="(0, 5)")), "OK"),
        ("valid_1d.npy", npy(header(shape="(6,)"), six_f4), "OK"),
        # the preamble
        ("empty.npy", b"", "bad magic"),
        ("bad_magic.npy", b"\x93NUMPX" + npy(header(), six_f4)[6:], "bad magic"),
        ("not_npy_text.npy", b"q,k,v\n1,2,3\n", "bad magic"),
        ("truncated_preamble.npy", MAGIC + b"\x01\x00\x76", "truncated header"),
        ("truncated_preamble_v2.npy", MAGIC + b"\x02\x00\x76\x00", "truncated header"),
        ("version_0.npy", npy(header(), six_f4, major=0), "unsupported .npy format version 0"),
        ("version_4.npy", npy(header(), six_f4, major=4), "unsupported .npy format version 4"),
        ("version_255.npy", npy(header(), six_f4, major=255), "unsupported .npy format version 255"),
        # the header length and dict
        ("header_past_eof.npy", npy(header(), six_f4, header_len=0xFFFF), "header length 65535 runs past the end"),
        ("header_past_eof_v2.npy", npy(header(), six_f4, major=2, header_len=0xFFFFFFFF),
         "header length 4294967295 runs past the end"),
        ("truncated_header.npy", npy(header())[:40], "runs past the end of the file"),
        ("header_no_dict.npy", npy(header(text="descr <f4 shape 2 3")), "bad header (no dict)"),
        ("header_empty.npy", npy(b""), "bad header (no dict)"),
        ("missing_descr.npy", npy(header(text="{'fortran_order': False, 'shape': (2, 3), }"), six_f4),
         "header has no 'descr' entry"),
        ("missing_shape.npy", npy(header(text="{'descr': '<f4', 'fortran_order': False, }"), six_f4),
         "header has no 'shape' entry"),
        ("missing_order.npy", npy(header(text="{'descr': '<f4', 'shape': (2, 3), }"), six_f4),
         "header has no 'fortran_order' entry"),
        ("unterminated_shape.npy", npy(header(text="{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3 }")),
         "unterminated shape tuple"),
        ("unterminated_descr.npy", npy(header(text="{'descr': '<f4}")), "unterminated string"),
        ("shape_not_tuple.npy", npy(header(shape="[2, 3]"), six_f4), "shape is not a tuple"),
        ("bad_order_value.npy", npy(header(order="0"), six_f4), "bad fortran_order value '0'"),
        # dtype and layout
        ("dtype_int32.npy", npy(header(descr="'<i4'"), six_f4), "unsupported dtype '<i4'"),
        ("dtype_float16.npy", npy(header(descr="'<f2'"), six_f4), "unsupported dtype '<f2'"),
        ("dtype_object.npy", npy(header(descr="'|O'"), six_f4), "unsupported dtype '|O'"),
        ("dtype_structured.npy", npy(header(descr="[('a', '<f4')]"), six_f4), "unsupported dtype"),
        ("big_endian_f4.npy", npy(header(descr="'>f4'"), floats(6, ">f")), "big-endian data ('>f4')"),
        ("big_endian_f8.npy", npy(header(descr="'>f8'"), floats(6, ">d")), "big-endian data ('>f8')"),
        ("fortran_order.npy", npy(header(order="True"), six_f4), "Fortran order is not supported"),
        # the shape
        ("negative_dim.npy", npy(header(shape="(-1, 3)"), six_f4), "bad dimension '-1'"),
        ("non_numeric_dim.npy", npy(header(shape="(2, x)"), six_f4), "bad dimension 'x'"),
        ("huge_dim_digits.npy", npy(header(shape="(123456789012345678901234567890,)"), six_f4),
         "bad dimension '123456789012345678901234567890'"),
        ("shape_overflow.npy", npy(header(shape="(4294967296, 4294967296, 4294967296)"), six_f4),
         "is too large"),
        ("shape_overflow_int64.npy", npy(header(shape="(3037000500, 3037000500)"), six_f4), "is too large"),
        ("huge_dim_over_bound.npy", npy(header(shape="(100000000000,)"), six_f4), "is too large"),
        # under the bound, but the file holds almost nothing: refused before allocating
        ("huge_dim_small_file.npy", npy(header(shape="(1000000, 1000)"), six_f4),
         "truncated data: 24 bytes for 4000000000 expected"),
        # the data section
        ("truncated_data.npy", npy(header(), six_f4[:-3]), "truncated data: 21 bytes for 24 expected"),
        ("no_data.npy", npy(header()), "truncated data: 0 bytes for 24 expected"),
        ("trailing_garbage.npy", npy(header(), six_f4 + b"GARBAGE"), "trailing bytes after the data (7)"),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args()
    files = corpus()
    manifest = "# file\texpected: OK, or a substring of the reader's error (written by scripts/make_npy_corpus.py)\n"
    manifest += "".join(f"{name}\t{expected}\n" for name, _, expected in files)
    wanted = {name: data for name, data, _ in files}
    wanted["EXPECTED.tsv"] = manifest.encode()
    if args.check:
        bad = []
        for name, data in wanted.items():
            path = os.path.join(OUT, name)
            if not os.path.exists(path) or open(path, "rb").read() != data:
                bad.append(name)
        extra = sorted(set(os.listdir(OUT)) - set(wanted))
        if bad or extra:
            print(f"npy corpus out of date: differ {bad}, not generated {extra}; rerun {sys.argv[0]}")
            return 1
        print(f"npy corpus: {len(files)} files match {os.path.basename(sys.argv[0])}")
        return 0
    os.makedirs(OUT, exist_ok=True)
    for name, data in wanted.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(files)} files and EXPECTED.tsv to {os.path.normpath(OUT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
