#!/bin/bash
# t0100-scanner-oracle.t - the DICOM scanner (build/dcmfs-scan) against
# oracles, file by file, over the whole shared corpus:
#   pydicom (tests/system/lib/oracle_pydicom.py): UIDs, patient, image
#     attributes, transfer syntax, and the Pixel Data element offset and
#     value length (from pydicom's recorded value position);
#   dcmdump (DCMTK): the same attributes from its top-level dump lines, and
#     the pixel value length (sum of items + delimiter when encapsulated);
#   the file itself: the bytes at the reported element offset are the tag.
# Files in malformed/ must be refused when truncated, not DICOM or with a
# length past the end; the others there may be accepted.
# One TAP line per file.
. "$(dirname "$0")/lib/common.sh"
need_samples
[ -x "$SCAN" ] || skip_all "$SCAN not built"
corpus=$SAMPLES
oracle=$LIB/oracle_pydicom.py

mapfile -t files < <(find "$corpus" -type f ! -name README.md ! -name MANIFEST.tsv \
	! -name '*.txt' ! -name '*.py' ! -name '*.json' | LC_ALL=C sort)

# Expected status of the files in malformed/ that must be refused.
declare -A must_refuse=(
	[MR_truncated.dcm]="truncated"
	[rtplan_truncated.dcm]="truncated"
	[truncated_in_meta.dcm]="truncated"
	[truncated_in_header.dcm]="truncated"
	[truncated_mid_pixels.dcm]="truncated"
	[truncated_mid_fragment.dcm]="truncated"
	[emri_small_jpeg_2k_lossless_too_short.dcm]="truncated"
	[preamble_only.dcm]="truncated"
	[zero_length.dcm]="empty file"
	[garbage.dcm]="not DICOM"
	[garbage_with_magic.dcm]="not DICOM"
	[jpeg_named.dcm]="not DICOM"
	[png_named.dcm]="not DICOM"
	[text_named.dcm]="not DICOM"
	[zipMR.gz]="not DICOM"
	[pixeldata_length_huge.dcm]="length past end"
	[patientname_length_overrun.dcm]="length past end"
)

# Files outside malformed/ that the scanner refuses on purpose, and why.
declare -A refuse_why=(
	[no_meta.dcm]="a stray byte precedes the dataset (it is CT_small.dcm cut one byte early); dcmdump and gdcm fail too, pydicom only reads one garbage element (0820,0500)"
	[DICOMDIR]="a media directory, not an instance: no top-level SOPInstanceUID"
	# Debian's pydicom test files (used when the corpus is absent)
	[README]="a text file"
	[rtplan.dump]="a text dump of rtplan.dcm"
	[rtstruct.dump]="a text dump of rtstruct.dcm"
)

# key=value blocks -> "file<TAB>key<TAB>value" lines
flatten() {
	awk 'index($0, "file=") == 1 { f = substr($0, 6); next }
	     f != "" && index($0, "=") { k = substr($0, 1, index($0, "=") - 1);
		 print f "\t" k "\t" substr($0, index($0, "=") + 1) }' "$1"
}

declare -A S P D
"$SCAN" "${files[@]}" > "$T/scan.out" 2> "$T/scan.err"
while IFS=$'\t' read -r f k v; do S["$f|$k"]=$v; done < <(flatten "$T/scan.out")

"$PY" "$oracle" "${files[@]}" > "$T/py.out" 2> "$T/py.err"
while IFS=$'\t' read -r f k v; do P["$f|$k"]=$v; done < <(flatten "$T/py.out")

# dcmdump, one process for every file (+F heads each file's dump with its
# name): top-level lines only (nested ones are indented), values in
# brackets or after the VR; pixel length from "# N," or summed items.
dcm_to_kv() {
	awk '
	function put(k, v) { print file "\t" k "\t" v }
	function putn(k, v) { if (v != "") put(k, v + 0) }
	function val(line,   a, rest, parts) {
		if (line ~ /\(no value available\)/) return ""
		a = index(line, "[")
		if (a == 0) { split(substr(line, 16), w, " "); return w[1] }
		rest = substr(line, a + 1)
		split(rest, parts, "] ")
		return parts[1]
	}
	function num(line,   v) { v = val(line)
		if (v ~ /^[0-9a-f][0-9a-f]\\/) return ""  # VR UN shown as raw bytes
		sub(/\\.*/, "", v); gsub(/ /, "", v); return v }
	/^# dcmdump \([0-9]+\/[0-9]+\): / { file = $0; sub(/^# dcmdump \([0-9]+\/[0-9]+\): /, "", file); seen = 0; inpix = 0; next }
	/^# Dicom-Data-Set/ { put("_read", 1); next }
	/^\(fffe,e0dd\)/ && inpix { len += 8; put("pixel_value_length", len); inpix = 0; next }
	/^  \(fffe,e000\)/ && inpix { m = $0; sub(/.*# */, "", m); sub(/,.*/, "", m); len += 8 + m; next }
	/^\(/ {
		tag = substr($0, 2, 9)
		if (tag == "0002,0010") put("transfer_syntax", val($0))
		else if (tag == "0008,0018") put("sop_instance_uid", val($0))
		else if (tag == "0020,000d") put("study_uid", val($0))
		else if (tag == "0020,000e") put("series_uid", val($0))
		else if (tag == "0010,0020") put("patient_id", val($0))
		else if (tag == "0010,0010") put("patient_name", val($0))
		else if (tag == "0008,0060") put("modality", val($0))
		else if (tag == "0028,0010") putn("rows", num($0))
		else if (tag == "0028,0011") putn("columns", num($0))
		else if (tag == "0028,0100") putn("bits_allocated", num($0))
		else if (tag == "0028,0008") putn("number_of_frames", num($0))
		else if (tag == "0020,0011") putn("series_number", num($0))
		else if (tag == "0020,0013") putn("instance_number", num($0))
		else if ((tag == "7fe0,0010" || tag == "7fe0,0008" || tag == "7fe0,0009") && !seen) {
			seen = 1
			put("pixel_tag", substr(tag, 1, 4) substr(tag, 6, 4))
			if ($0 ~ /# *u\/l/) { inpix = 1; len = 0 }
			else { m = $0; sub(/.*# */, "", m); sub(/,.*/, "", m); put("pixel_value_length", m) }
		}
	}'
}

declare -A dcm_fail dcm_names
ok_files=()
for f in "${files[@]}"; do
	case "$f" in */malformed/*) ;; *) ok_files+=("$f") ;; esac
done
dcmdump -q -Un +U8 +F "${ok_files[@]}" 2> /dev/null | dcm_to_kv > "$T/dcm.kv"
while IFS=$'\t' read -r ff k v; do D["$ff|$k"]=$v; done < "$T/dcm.kv"
for f in "${ok_files[@]}"; do
	if [ -n "${D["$f|_read"]-}" ]; then
		dcm_names[$f]=1
		continue
	fi
	# this one failed: find out why, and retry without UTF-8 conversion
	if ! dcmdump -q -Un +U8 "$f" > /dev/null 2> "$T/de" && grep -q "UTF-8" "$T/de" &&
	   dcmdump -q -Un +F "$f" > "$T/d" 2> /dev/null; then
		# dcmtk cannot convert this charset: compare all but names
		dcm_names[$f]=0
		while IFS=$'\t' read -r ff k v; do D["$ff|$k"]=$v; done < <(dcm_to_kv < "$T/d")
		[ -n "${D["$f|_read"]-}" ] && continue
	fi
	dcm_fail[$f]=$(grep -v '^$' "$T/de" | head -1 | cut -c1-120)
	[ -n "${dcm_fail[$f]}" ] || dcm_fail[$f]="no output"
done

# pydicom drops empty trailing name components and groups
norm_pn() { while [[ $a == *= || $a == *^ ]]; do a=${a%?}; done
	while [[ $b == *= || $b == *^ ]]; do b=${b%?}; done; }

keys_py="sop_instance_uid study_uid series_uid sop_class_uid patient_id patient_name modality study_date study_description series_description photometric series_number instance_number number_of_frames rows columns bits_allocated samples_per_pixel transfer_syntax pixel_tag pixel_element_offset pixel_value_offset pixel_value_length pixel_encapsulated"
keys_dcm="sop_instance_uid study_uid series_uid patient_id patient_name modality rows columns bits_allocated number_of_frames series_number instance_number transfer_syntax pixel_tag pixel_value_length"

for f in "${files[@]}"; do
	rel=${f#"$corpus"/}
	base=${f##*/}
	st=${S["$f|status"]-missing}
	er=${S["$f|error"]-}

	# pydicom's test files keep their damaged ones beside the others
	if [[ $rel == malformed/* ]] || { [ -z "$CORPUS" ] && [ -n "${must_refuse[$base]-}" ]; }; then
		want=${must_refuse[$base]-}
		if [ -n "$want" ]; then
			if [ "$st" = "$want" ]; then
				ok "$rel refused as expected: $st ($er)"
			else
				not_ok "$rel: expected '$want', scanner said '$st' ($er)"
			fi
			continue
		fi
		if [ "$st" != ok ]; then
			ok "$rel may be refused: $st ($er)"
			continue
		fi
		# accepted: its values must still agree with pydicom below
	fi

	if [ "$st" != ok ]; then
		why=${refuse_why[$base]-}
		case "$st" in
		"no SOPInstanceUID") k=sop_instance_uid ;;
		"no StudyInstanceUID") k=study_uid ;;
		"no SeriesInstanceUID") k=series_uid ;;
		*) k= ;;
		esac
		if [ -n "$k" ] && [ -z "${P["$f|$k"]-x}" ]; then
			ok "$rel refused: $st; pydicom agrees it has no ${k}${why:+ ($why)}"
		elif [ -n "$why" ]; then
			ok "$rel refused: $st ($er): $why"
		else
			not_ok "$rel refused: $st ($er)"
		fi
		continue
	fi

	diffs=()
	notes=()
	# pydicom
	if [ -n "${P["$f|oracle_error"]-}" ]; then
		notes+=("pydicom cannot read it: ${P["$f|oracle_error"]}")
	else
		for k in $keys_py; do
			[ -n "${P["$f|$k"]+x}" ] || continue
			a=${S["$f|$k"]-} b=${P["$f|$k"]}
			[ "$k" = transfer_syntax ] && [ -z "$b" ] && continue  # no meta
			[ "$k" = patient_name ] && norm_pn
			[ "$a" = "$b" ] || diffs+=("$k: scanner '$a' pydicom '$b'")
		done
	fi
	# dcmdump
	if [ -n "${dcm_fail[$f]-}" ]; then
		notes+=("dcmdump cannot read it (${dcm_fail[$f]}); pydicom agrees with the scanner")
	elif [[ $rel != malformed/* ]]; then
		[ "${dcm_names[$f]-1}" = 0 ] && notes+=("dcmdump cannot convert its SpecificCharacterSet to UTF-8, names checked with pydicom only")
		for k in $keys_dcm; do
			[ -n "${D["$f|$k"]+x}" ] || continue
			[ "$k" = patient_name ] && [ "${dcm_names[$f]-0}" = 0 ] && continue
			a=${S["$f|$k"]-} b=${D["$f|$k"]}
			[ "$k" = pixel_value_length ] && [ "${S["$f|syntax"]}" = deflated ] && continue
			[ "$k" = patient_name ] && norm_pn
			if [ "$a" != "$b" ] && [[ $b =~ ^([0-9a-f][0-9a-f]\\)+ ]]; then
				# dcmdump prints a value of VR UN as raw bytes
				notes+=("dcmdump shows $k as raw VR UN bytes")
				continue
			fi
			if [ "$k" = pixel_value_length ] && [ "${S["$f|pixel_encapsulated"]}" = 1 ] &&
			   [ "$a" != "$b" ] && [ "${S["$f|pixel_value_length"]}" = "${P["$f|pixel_value_length"]-}" ]; then
				# dcmtk counts odd-length fragments padded to even
				notes+=("dcmdump pixel length $b counts odd fragments padded; scanner and pydicom say $a")
				continue
			fi
			[ "$a" = "$b" ] || diffs+=("$k: scanner '$a' dcmdump '$b'")
		done
	fi
	# the tag bytes at the reported element offset
	ptag=${S["$f|pixel_tag"]-00000000}
	if [ "$ptag" != 00000000 ] && [ "${S["$f|syntax"]}" != deflated ]; then
		got=$(od -An -tx1 -j "${S["$f|pixel_element_offset"]}" -N4 "$f" | tr -d ' \n')
		if [ "${S["$f|syntax"]}" = explicit_be ]; then
			want=$ptag
		else
			want=${ptag:2:2}${ptag:0:2}${ptag:6:2}${ptag:4:2}
		fi
		[ "$got" = "$want" ] || diffs+=("bytes at pixel_element_offset are $got, not the tag $want")
	fi

	if [ ${#diffs[@]} -eq 0 ]; then
		msg="$rel agrees (pixel $ptag @${S["$f|pixel_element_offset"]-} len ${S["$f|pixel_value_length"]-})"
		[ ${#notes[@]} -eq 0 ] || msg+=" # ${notes[*]}"
		ok "$msg"
	else
		not_ok "$rel: ${diffs[*]}"
	fi
done
done_testing
