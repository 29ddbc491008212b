// deid_gdcm.cc - the C++ shim behind deid_gdcm.h: GDCM parses and writes,
// the profile's rules (deid_gdcm.h says which) are applied here.

#include "deid_gdcm.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gdcmAnonymizer.h>
#include <gdcmDataSet.h>
#include <gdcmDict.h>
#include <gdcmDicts.h>
#include <gdcmFile.h>
#include <gdcmGlobal.h>
#include <gdcmItem.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmTrace.h>
#include <gdcmWriter.h>

namespace {

using gdcm::DataElement;
using gdcm::DataSet;
using gdcm::Tag;
using gdcm::VR;

// What the profile does to one attribute.
enum action { KEEP, EMPTY, REMOVE };

// Attributes of Table E.1-1 (later editions) that GDCM's 2008 table lacks.
const Tag extra_tags[] = {
	Tag(0x0008, 0x0021), Tag(0x0008, 0x0022), Tag(0x0008, 0x0023), // series/acq/content date
	Tag(0x0008, 0x002A), Tag(0x0008, 0x0031), Tag(0x0008, 0x0032), Tag(0x0008, 0x0033),
	Tag(0x0008, 0x0082), Tag(0x0008, 0x009C), Tag(0x0008, 0x009D), Tag(0x0008, 0x0096),
	Tag(0x0008, 0x1049), Tag(0x0008, 0x1052), Tag(0x0008, 0x1062), Tag(0x0008, 0x1072),
	Tag(0x0008, 0x1084), Tag(0x0008, 0x4000), Tag(0x0010, 0x0021), Tag(0x0010, 0x0022),
	Tag(0x0010, 0x0024), Tag(0x0010, 0x0050), Tag(0x0010, 0x0101), Tag(0x0010, 0x0102),
	Tag(0x0010, 0x1002), Tag(0x0010, 0x1005), Tag(0x0010, 0x1060), Tag(0x0010, 0x1080),
	Tag(0x0010, 0x1081), Tag(0x0010, 0x1100), Tag(0x0010, 0x2150), Tag(0x0010, 0x2152),
	Tag(0x0010, 0x2154), Tag(0x0010, 0x2155), Tag(0x0010, 0x2299), Tag(0x0010, 0x2297),
	Tag(0x0018, 0x1000), Tag(0x0018, 0x1002), Tag(0x0018, 0x1004), Tag(0x0018, 0x1005),
	Tag(0x0018, 0x1007), Tag(0x0018, 0x1008), Tag(0x0018, 0x1030), Tag(0x0018, 0x700A),
	Tag(0x0018, 0x9424), Tag(0x0020, 0x4000), Tag(0x0020, 0x9158), Tag(0x0032, 0x1020),
	Tag(0x0032, 0x1021), Tag(0x0032, 0x1032), Tag(0x0032, 0x1033), Tag(0x0032, 0x1060),
	Tag(0x0032, 0x1064), Tag(0x0032, 0x1070), Tag(0x0032, 0x4000), Tag(0x0038, 0x0004),
	Tag(0x0038, 0x0010), Tag(0x0038, 0x0011), Tag(0x0038, 0x0014), Tag(0x0038, 0x0060),
	Tag(0x0038, 0x0061), Tag(0x0038, 0x0062), Tag(0x0038, 0x0300), Tag(0x0038, 0x0400),
	Tag(0x0038, 0x0500), Tag(0x0038, 0x4000), Tag(0x0040, 0x0001), Tag(0x0040, 0x0002),
	Tag(0x0040, 0x0003), Tag(0x0040, 0x0004), Tag(0x0040, 0x0005), Tag(0x0040, 0x0006),
	Tag(0x0040, 0x0007), Tag(0x0040, 0x000B), Tag(0x0040, 0x0010), Tag(0x0040, 0x0011),
	Tag(0x0040, 0x0012), Tag(0x0040, 0x0241), Tag(0x0040, 0x0242), Tag(0x0040, 0x0243),
	Tag(0x0040, 0x0244), Tag(0x0040, 0x0245), Tag(0x0040, 0x0250), Tag(0x0040, 0x0251),
	Tag(0x0040, 0x0253), Tag(0x0040, 0x0254), Tag(0x0040, 0x0275), Tag(0x0040, 0x0280),
	Tag(0x0040, 0x0555), Tag(0x0040, 0x1001), Tag(0x0040, 0x1004), Tag(0x0040, 0x1005),
	Tag(0x0040, 0x1010), Tag(0x0040, 0x1011), Tag(0x0040, 0x1102), Tag(0x0040, 0x1103),
	Tag(0x0040, 0x1400), Tag(0x0040, 0x2001), Tag(0x0040, 0x2008), Tag(0x0040, 0x2009),
	Tag(0x0040, 0x2010), Tag(0x0040, 0x2400), Tag(0x0040, 0x3001), Tag(0x0040, 0x4036),
	Tag(0x0040, 0x4037), Tag(0x0040, 0xA027), Tag(0x0040, 0xA073), Tag(0x0040, 0xA075),
	Tag(0x0040, 0xA078), Tag(0x0040, 0xA07A), Tag(0x0040, 0xA07C), Tag(0x0040, 0xA123),
	Tag(0x0040, 0xA730), Tag(0x0070, 0x0084), Tag(0x0070, 0x0086), Tag(0x0088, 0x0140),
	Tag(0x0088, 0x0200), Tag(0x0400, 0x0100), Tag(0x0400, 0x0402), Tag(0x0400, 0x0403),
	Tag(0x0400, 0x0404), Tag(0x0400, 0x0550), Tag(0x0400, 0x0561), Tag(0x4000, 0x0010),
	Tag(0x4000, 0x4000), Tag(0x4008, 0x0042), Tag(0x4008, 0x0100), Tag(0x4008, 0x0102),
	Tag(0x4008, 0x0114), Tag(0x4008, 0x0119), Tag(0x4008, 0x011A), Tag(0x4008, 0x0300),
	Tag(0x4008, 0x4000), Tag(0xFFFA, 0xFFFA), Tag(0xFFFC, 0xFFFC),
	// Patient address, history and status; admissions; comments.
	Tag(0x0008, 0x0201), Tag(0x0008, 0x1120), Tag(0x0010, 0x1040), Tag(0x0010, 0x1050),
	Tag(0x0010, 0x2000), Tag(0x0010, 0x2110), Tag(0x0010, 0x21A0), Tag(0x0010, 0x21C0),
	Tag(0x0010, 0x21D0), Tag(0x0010, 0x21F0), Tag(0x0010, 0x2203), Tag(0x0018, 0x1400),
	Tag(0x0018, 0x4000), Tag(0x0018, 0xA003), Tag(0x0032, 0x1030), Tag(0x0032, 0x1050),
	Tag(0x0032, 0x1051), Tag(0x0038, 0x001E), Tag(0x0038, 0x0020), Tag(0x0038, 0x0021),
	Tag(0x0038, 0x0040), Tag(0x0038, 0x0050), Tag(0x0040, 0x0310), Tag(0x0040, 0x1101),
	Tag(0x0040, 0x1104), Tag(0x0040, 0xA088),
};

// Type 2 attributes the profile empties (Z) rather than removes.
const Tag empty_tags[] = {
	Tag(0x0008, 0x0020), Tag(0x0008, 0x0023), Tag(0x0008, 0x0030), Tag(0x0008, 0x0033),
	Tag(0x0008, 0x0050), Tag(0x0008, 0x0090), Tag(0x0010, 0x0030), Tag(0x0010, 0x0040),
	Tag(0x0020, 0x0010),
};

// UIDs that name kinds of things (classes, syntaxes, code schemes), kept.
const Tag keep_uid_tags[] = {
	Tag(0x0002, 0x0002), Tag(0x0002, 0x0010), Tag(0x0002, 0x0012), Tag(0x0008, 0x0016),
	Tag(0x0008, 0x001A), Tag(0x0008, 0x0062), Tag(0x0008, 0x010C), Tag(0x0008, 0x0117),
	Tag(0x0008, 0x1150), Tag(0x0004, 0x1510), Tag(0x0400, 0x0010), Tag(0x0400, 0x0510),
};

struct profile {
	std::set<Tag> table, empty, keep_uid;
	profile()
	{
		// GDCM's messages are global switches: set once, before any rewrite.
		gdcm::Trace::SetError(false);
		gdcm::Trace::SetWarning(false);
		gdcm::Trace::SetDebug(false);
		for (const Tag &t : gdcm::Anonymizer::GetBasicApplicationLevelConfidentialityProfileAttributes())
			table.insert(t);
		for (const Tag &t : extra_tags)
			table.insert(t);
		for (const Tag &t : empty_tags)
			empty.insert(t);
		for (const Tag &t : keep_uid_tags)
			keep_uid.insert(t);
	}
};

const profile &the_profile()
{
	static const profile p;   // thread-safe initialisation (C++11)
	return p;
}

struct context {
	const deid_gdcm_job *job;
	const profile *prof;
};

std::string value_of(const DataElement &de)
{
	const gdcm::ByteValue *bv = de.GetByteValue();
	if (!bv || !bv->GetPointer())
		return std::string();
	std::string v(bv->GetPointer(), bv->GetLength());
	while (!v.empty() && (v.back() == ' ' || v.back() == '\0'))
		v.pop_back();
	size_t b = 0;
	while (b < v.size() && v[b] == ' ')
		b++;
	return v.substr(b);
}

// Set a string value, padded to even length (UI with NUL, the rest with space).
void set_value(DataElement &de, std::string v, bool ui)
{
	if (v.size() % 2)
		v.push_back(ui ? '\0' : ' ');
	de.SetByteValue(v.data(), gdcm::VL((uint32_t)v.size()));
}

// The VR an element really has: its own (explicit VR), else the dictionary's.
VR vr_of(const DataElement &de)
{
	VR vr = de.GetVR();
	if (vr == VR::INVALID || vr == VR::UN) {
		const gdcm::Dicts &d = gdcm::Global::GetInstance().GetDicts();
		VR dv = d.GetDictEntry(de.GetTag()).GetVR();
		if (vr == VR::INVALID)
			return dv;
		// UN on the wire: only the dictionary's answer matters for the
		// decision to remove it (its value stays unparsed).
		if (dv != VR::INVALID && dv != VR::UN)
			return VR::UN;
	}
	return vr;
}

std::vector<std::string> split(const std::string &v)
{
	std::vector<std::string> out;
	size_t start = 0;
	for (;;) {
		size_t bs = v.find('\\', start);
		out.push_back(v.substr(start, bs == std::string::npos ? std::string::npos : bs - start));
		if (bs == std::string::npos)
			break;
		start = bs + 1;
	}
	return out;
}

std::string trim(const std::string &s)
{
	size_t b = 0, e = s.size();
	while (b < e && (s[b] == ' ' || s[b] == '\0'))
		b++;
	while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\0'))
		e--;
	return s.substr(b, e - b);
}

std::string new_uids(const context &cx, const std::string &v)
{
	std::string out;
	bool first = true;
	for (const std::string &part : split(v)) {
		std::string p = trim(part);
		if (!first)
			out.push_back('\\');
		first = false;
		if (p.empty())
			continue;
		if (p.compare(0, 14, "1.2.840.10008.") == 0) {
			out += p;
			continue;
		}
		char u[65];
		deid_uid(cx.job->secret, p.c_str(), u);
		out += u;
	}
	return out;
}

// Days from 1970-01-01 of a civil date, and back (proleptic Gregorian).
long days_from_civil(long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

void civil_from_days(long z, long *y, unsigned *m, unsigned *d)
{
	z += 719468;
	long era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long yy = (long)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yy + (*m <= 2);
}

// One DA value or the date part of a DT moved by days; a value that is not
// a whole YYYYMMDD date is dropped (a year alone still says too much).
std::string shift_one(const std::string &p, int days)
{
	if (p.size() < 8)
		return std::string();
	for (int i = 0; i < 8; i++)
		if (p[i] < '0' || p[i] > '9')
			return std::string();
	long y = std::atol(p.substr(0, 4).c_str());
	unsigned m = (unsigned)std::atoi(p.substr(4, 2).c_str());
	unsigned d = (unsigned)std::atoi(p.substr(6, 2).c_str());
	if (m < 1 || m > 12 || d < 1 || d > 31)
		return std::string();
	long z = days_from_civil(y, m, d) + days;
	civil_from_days(z, &y, &m, &d);
	if (y < 0 || y > 9999)
		return std::string();
	char buf[16];
	std::snprintf(buf, sizeof(buf), "%04ld%02u%02u", y, m, d);
	return std::string(buf) + p.substr(8);
}

std::string shift_dates(const std::string &v, int days)
{
	std::string out;
	bool first = true;
	for (const std::string &part : split(v)) {
		if (!first)
			out.push_back('\\');
		first = false;
		std::string p = trim(part);
		size_t dash = p.find('-');
		// A range (DA "A-B"); a DT's "-" is a time zone after the date.
		if (dash != std::string::npos && (dash == 0 || dash == 8) && p.size() <= 17 &&
		    p.find_first_not_of("0123456789-") == std::string::npos) {
			std::string a = p.substr(0, dash), b = p.substr(dash + 1);
			out += (a.empty() ? "" : shift_one(a, days)) + "-" +
			       (b.empty() ? "" : shift_one(b, days));
		} else {
			out += shift_one(p, days);
		}
	}
	return out;
}

bool rewrite(const context &cx, DataSet &ds, int depth);

// Rewrite the items of a sequence element; false when it cannot be read.
bool rewrite_sequence(const context &cx, DataElement &de, int depth)
{
	gdcm::SmartPointer<gdcm::SequenceOfItems> sq = de.GetValueAsSQ();
	if (!sq)
		return de.IsEmpty();
	for (gdcm::SequenceOfItems::Iterator it = sq->Begin(); it != sq->End(); ++it) {
		if (!rewrite(cx, it->GetNestedDataSet(), depth + 1))
			return false;
		it->SetVLToUndefined();
	}
	sq->SetLengthToUndefined();
	de.SetValue(*sq);
	de.SetVLToUndefined();
	return true;
}

bool rewrite(const context &cx, DataSet &ds, int depth)
{
	if (depth > 64)
		return false;
	const profile &pr = *cx.prof;
	std::vector<Tag> drop;
	std::vector<DataElement> put;
	for (DataSet::Iterator it = ds.Begin(); it != ds.End(); ++it) {
		DataElement de = *it;
		const Tag t = de.GetTag();
		if (t.IsPrivate() || t.IsGroupLength()) {
			drop.push_back(t);
			continue;
		}
		if (t.GetGroup() == 0x0002)
			continue;   // the file meta is the writer's
		// Overlay data and comments (60xx,3000/4000) and the retired
		// curves (50xx) may carry identity drawn or written by hand.
		if ((t.GetGroup() >= 0x6000 && t.GetGroup() <= 0x60FF &&
		     (t.GetElement() == 0x3000 || t.GetElement() == 0x4000)) ||
		    (t.GetGroup() >= 0x5000 && t.GetGroup() <= 0x50FF)) {
			drop.push_back(t);
			continue;
		}
		VR vr = vr_of(de);
		bool in_table = pr.table.count(t) != 0;
		if (t == Tag(0x0010, 0x0010) || t == Tag(0x0010, 0x0020)) {
			set_value(de, t.GetElement() == 0x0010 ? cx.job->patient_name : cx.job->patient_id,
				  false);
			put.push_back(de);
			continue;
		}
		if (vr == VR::UN) {
			const int risky = VR::UI | VR::DA | VR::DT | VR::PN | VR::SQ;
			const gdcm::Dicts &d = gdcm::Global::GetInstance().GetDicts();
			if (in_table || ((int)(VR::VRType)d.GetDictEntry(t).GetVR() & risky))
				drop.push_back(t);
			continue;
		}
		if (vr == VR::UI) {
			if (pr.keep_uid.count(t))
				continue;
			set_value(de, new_uids(cx, value_of(de)), true);
			put.push_back(de);
			continue;
		}
		if (vr == VR::DA || vr == VR::DT) {
			if (cx.job->shift_days) {
				set_value(de, shift_dates(value_of(de), cx.job->shift_days), false);
				put.push_back(de);
			} else if (pr.empty.count(t)) {
				de.Empty();
				put.push_back(de);
			} else {
				drop.push_back(t);
			}
			continue;
		}
		if (vr == VR::TM && cx.job->shift_days && in_table)
			continue;   // intervals need the times
		if (in_table) {
			if (pr.empty.count(t)) {
				de.Empty();
				put.push_back(de);
			} else {
				drop.push_back(t);
			}
			continue;
		}
		if (vr == VR::SQ || (vr == VR::INVALID && !de.IsEmpty() && !de.GetByteValue())) {
			if (!rewrite_sequence(cx, de, depth))
				return false;
			put.push_back(de);
		}
	}
	for (const Tag &t : drop)
		ds.Remove(t);
	for (const DataElement &de : put)
		ds.Replace(de);
	return true;
}

void copy_str(char *dst, size_t n, const std::string &s)
{
	std::snprintf(dst, n, "%s", s.c_str());
}

std::string found(const DataSet &ds, const Tag &t)
{
	if (!ds.FindDataElement(t))
		return std::string();
	return value_of(ds.GetDataElement(t));
}

DataElement text_element(const Tag &t, const VR &vr, const std::string &v, bool explicit_vr)
{
	DataElement de(t);
	if (explicit_vr)
		de.SetVR(vr);
	set_value(de, v, vr == VR::UI);
	return de;
}

// (0012,0064): one item per code, CodeValue / CodingSchemeDesignator / CodeMeaning.
DataElement method_codes(bool shifted, bool explicit_vr)
{
	gdcm::SmartPointer<gdcm::SequenceOfItems> sq = new gdcm::SequenceOfItems;
	sq->SetLengthToUndefined();
	const char *codes[2][2] = {
		{ "113100", "Basic Application Confidentiality Profile" },
		{ "113107", "Retain Longitudinal Temporal Information Modified Dates Option" },
	};
	for (int i = 0; i < (shifted ? 2 : 1); i++) {
		gdcm::Item item;
		item.SetVLToUndefined();
		DataSet &n = item.GetNestedDataSet();
		n.Insert(text_element(Tag(0x0008, 0x0100), VR::SH, codes[i][0], explicit_vr));
		n.Insert(text_element(Tag(0x0008, 0x0102), VR::SH, "DCM", explicit_vr));
		n.Insert(text_element(Tag(0x0008, 0x0104), VR::LO, codes[i][1], explicit_vr));
		sq->AddItem(item);
	}
	DataElement de(Tag(0x0012, 0x0064));
	if (explicit_vr)
		de.SetVR(VR::SQ);
	de.SetValue(*sq);
	de.SetVLToUndefined();
	return de;
}

} // namespace

extern "C" int deid_gdcm_rewrite(const struct deid_gdcm_job *job, struct deid_gdcm_result *res,
				 char *err, size_t errlen)
{
	std::memset(res, 0, sizeof(*res));
	try {
		const profile &prof = the_profile();
		std::istringstream is(std::string((const char *)job->in, job->in_len));
		gdcm::Reader r;
		r.SetStream(is);
		if (!r.Read()) {
			std::snprintf(err, errlen, "header does not parse");
			return -EINVAL;
		}
		gdcm::File &f = r.GetFile();
		DataSet &ds = f.GetDataSet();
		copy_str(res->burned_in, sizeof(res->burned_in), found(ds, Tag(0x0028, 0x0301)));
		copy_str(res->sop_class, sizeof(res->sop_class), found(ds, Tag(0x0008, 0x0016)));
		copy_str(res->modality, sizeof(res->modality), found(ds, Tag(0x0008, 0x0060)));
		// The pixel element itself is the caller's; nothing at or past it.
		std::vector<Tag> past;
		for (DataSet::Iterator it = ds.Begin(); it != ds.End() && !job->whole; ++it)
			if (!(it->GetTag() < Tag(0x7FE0, 0x0008)))
				past.push_back(it->GetTag());
		for (const Tag &t : past)
			ds.Remove(t);
		context cx = { job, &prof };
		if (!rewrite(cx, ds, 0)) {
			std::snprintf(err, errlen, "a sequence does not parse");
			return -EINVAL;
		}
		gdcm::FileMetaInformation &fmi = f.GetHeader();
		const gdcm::TransferSyntax ts = fmi.GetDataSetTransferSyntax();
		bool explicit_vr = ts.IsExplicit();
		ds.Replace(text_element(Tag(0x0012, 0x0062), VR::CS, "YES", explicit_vr));
		ds.Replace(text_element(Tag(0x0012, 0x0063), VR::LO,
					job->shift_days ? "dcmfs PS3.15 E.1-1 Basic, dates shifted"
							: "dcmfs PS3.15 E.1-1 Basic", explicit_vr));
		ds.Replace(method_codes(job->shift_days != 0, explicit_vr));
		// Type 2 patient attributes stay present.
		if (!ds.FindDataElement(Tag(0x0010, 0x0010)))
			ds.Insert(text_element(Tag(0x0010, 0x0010), VR::PN, job->patient_name, explicit_vr));
		if (!ds.FindDataElement(Tag(0x0010, 0x0020)))
			ds.Insert(text_element(Tag(0x0010, 0x0020), VR::LO, job->patient_id, explicit_vr));
		// The file meta: what the writer makes from the dataset, and the
		// new SOPInstanceUID as MediaStorageSOPInstanceUID.
		std::string sop = found(ds, Tag(0x0008, 0x0018));
		std::vector<Tag> meta_drop;
		for (DataSet::Iterator it = fmi.Begin(); it != fmi.End(); ++it) {
			const Tag t = it->GetTag();
			if (t != Tag(0x0002, 0x0001) && t != Tag(0x0002, 0x0002) && t != Tag(0x0002, 0x0010))
				meta_drop.push_back(t);
		}
		for (const Tag &t : meta_drop)
			fmi.Remove(t);
		if (!sop.empty()) {
			DataElement de(Tag(0x0002, 0x0003));
			de.SetVR(VR::UI);
			set_value(de, sop, true);
			fmi.Insert(de);
		}
		f.GetHeader().GetPreamble().Create();
		std::ostringstream os;
		gdcm::Writer w;
		w.SetStream(os);
		w.SetFile(f);
		w.SetCheckFileMetaInformation(true);
		if (!w.Write()) {
			std::snprintf(err, errlen, "the rewritten header cannot be written");
			return -EINVAL;
		}
		const std::string out = os.str();
		res->out = (uint8_t *)std::malloc(out.size() ? out.size() : 1);
		if (!res->out)
			return -ENOMEM;
		std::memcpy(res->out, out.data(), out.size());
		res->out_len = out.size();
		return 0;
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	} catch (const std::exception &e) {
		std::snprintf(err, errlen, "GDCM: %s", e.what());
		return -EINVAL;
	} catch (...) {
		std::snprintf(err, errlen, "GDCM failed");
		return -EINVAL;
	}
}
