//! A citizen's district: a county-level division of mainland China (a
//! district 区, county 县 or county-level city 县级市) by its six-digit
//! GB/T 2260 code, such as `110108` for Haidian, Beijing.
//!
//! The codes and names are the `gb2260` crate's data at its current
//! revision (2016-07): a code created after it is unknown, one abolished
//! before it is refused. A district must lie in the citizen's ISO 3166-2
//! province ([`province_prefix`] maps the 31 mainland provinces to their
//! GB/T 2260 two-digit prefix; Hong Kong, Macao and Taiwan have no GB/T 2260
//! counties, so a citizen there gives no district).
//!
//! Its city is the prefecture-level division above it (the code's first four
//! digits and `00`). Two cases have no city of their own in GB/T 2260:
//! - the municipalities (Beijing, Tianjin, Shanghai, Chongqing), whose
//!   prefecture entries are placeholders (`市辖区` "districts", `县`
//!   "counties"): the city is the municipality, code `xx0100`, named as
//!   the province (so Chongqing's districts and counties are one city);
//! - county-level cities governed by their province directly (`省直辖县级行政区划`,
//!   such as Jiyuan `419001`): the city is that entry, named with the
//!   province's name first (`河南省省直辖县级行政区划`).

use std::fmt;

use gb2260::Division;

use crate::types::RegionCode;

/// ISO 3166-2:CN codes of the mainland provinces, autonomous regions and
/// municipalities, their GB/T 2260 two-digit prefix and the name GB/T 2260
/// gives the province (a unit test checks it against the data).
const PROVINCES: [(&str, &str, &str); 31] = [
    ("CN-BJ", "11", "北京市"),
    ("CN-TJ", "12", "天津市"),
    ("CN-HE", "13", "河北省"),
    ("CN-SX", "14", "山西省"),
    ("CN-NM", "15", "内蒙古自治区"),
    ("CN-LN", "21", "辽宁省"),
    ("CN-JL", "22", "吉林省"),
    ("CN-HL", "23", "黑龙江省"),
    ("CN-SH", "31", "上海市"),
    ("CN-JS", "32", "江苏省"),
    ("CN-ZJ", "33", "浙江省"),
    ("CN-AH", "34", "安徽省"),
    ("CN-FJ", "35", "福建省"),
    ("CN-JX", "36", "江西省"),
    ("CN-SD", "37", "山东省"),
    ("CN-HA", "41", "河南省"),
    ("CN-HB", "42", "湖北省"),
    ("CN-HN", "43", "湖南省"),
    ("CN-GD", "44", "广东省"),
    ("CN-GX", "45", "广西壮族自治区"),
    ("CN-HI", "46", "海南省"),
    ("CN-CQ", "50", "重庆市"),
    ("CN-SC", "51", "四川省"),
    ("CN-GZ", "52", "贵州省"),
    ("CN-YN", "53", "云南省"),
    ("CN-XZ", "54", "西藏自治区"),
    ("CN-SN", "61", "陕西省"),
    ("CN-GS", "62", "甘肃省"),
    ("CN-QH", "63", "青海省"),
    ("CN-NX", "64", "宁夏回族自治区"),
    ("CN-XJ", "65", "新疆维吾尔自治区"),
];

/// The GB/T 2260 two-digit prefix of an ISO 3166-2 region, if it is one of
/// the 31 mainland provinces (others have no GB/T 2260 districts).
pub fn province_prefix(region: &RegionCode) -> Option<&'static str> {
    PROVINCES.iter().find(|(iso, _, _)| *iso == region.as_str()).map(|(_, prefix, _)| *prefix)
}

/// A prefecture-level division as the figures group by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct City {
    /// Its GB/T 2260 code (`110100` for Beijing, `130100` for Shijiazhuang).
    pub code: String,
    /// Its name, in Chinese as GB/T 2260 gives it.
    pub name: String,
}

/// A county-level division of the citizen's province: a value that exists
/// is a real GB/T 2260 county-level code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct District {
    division: Division,
}

/// Why a district was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDistrict {
    /// Not six ASCII digits.
    #[error("`{0}` is not a district code: give six digits of GB/T 2260, e.g. 110108 for Haidian")]
    Malformed(String),
    /// Six digits, but no division has that code.
    #[error("`{0}` is not a GB/T 2260 division code (e.g. 110108 for Haidian)")]
    Unknown(String),
    /// A province or prefecture, or a placeholder entry (`市辖区`), not a district or county.
    #[error("`{code}` ({name}) is not a district or county: give a county-level code such as 110108")]
    NotCounty {
        /// The code given.
        code: String,
        /// What GB/T 2260 calls it.
        name: String,
    },
    /// A district of another province than the citizen's region.
    #[error("district `{code}` ({name}) is not in the region {region}")]
    OutsideRegion {
        /// The code given.
        code: String,
        /// Its name.
        name: String,
        /// The citizen's region.
        region: String,
    },
    /// The region is not one of the 31 mainland provinces.
    #[error("the region {0} has no GB/T 2260 districts: leave the district empty")]
    RegionWithoutDistricts(String),
}

/// Placeholder names GB/T 2260 gives entries that stand for "the districts
/// of" or "the counties of" a city rather than for a place.
const PLACEHOLDERS: [&str; 2] = ["市辖区", "县"];

impl District {
    /// Parses a district code for a citizen of `region`: six digits, a real
    /// county-level division (not a province, a prefecture or a `市辖区`
    /// placeholder), inside that province.
    pub fn parse(code: &str, region: &RegionCode) -> Result<District, InvalidDistrict> {
        let district = District::lookup(code)?;
        let prefix =
            province_prefix(region).ok_or_else(|| InvalidDistrict::RegionWithoutDistricts(region.to_string()))?;
        if !district.code().starts_with(prefix) {
            return Err(InvalidDistrict::OutsideRegion {
                code: code.to_owned(),
                name: district.name().to_owned(),
                region: region.to_string(),
            });
        }
        Ok(district)
    }

    /// A county-level code whatever its province (for codes already stored,
    /// which were checked against the region when they were given).
    pub fn lookup(code: &str) -> Result<District, InvalidDistrict> {
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidDistrict::Malformed(code.to_owned()));
        }
        let division = Division::get(code).ok_or_else(|| InvalidDistrict::Unknown(code.to_owned()))?;
        if !division.is_county() || PLACEHOLDERS.contains(&division.name) {
            return Err(InvalidDistrict::NotCounty { code: code.to_owned(), name: division.name.to_owned() });
        }
        Ok(District { division })
    }

    /// The six-digit code.
    pub fn code(&self) -> &'static str {
        self.division.code
    }

    /// Its name, in Chinese as GB/T 2260 gives it (`海淀区`).
    pub fn name(&self) -> &'static str {
        self.division.name
    }

    /// The city it belongs to (see the module's documentation).
    pub fn city(&self) -> City {
        let province = self.division.province();
        match self.division.prefecture() {
            Some(prefecture) if PLACEHOLDERS.contains(&prefecture.name) => {
                City { code: format!("{}0100", &self.division.code[..2]), name: province.name.to_owned() }
            }
            Some(prefecture) if prefecture.name.ends_with("直辖县级行政区划") => {
                City { code: prefecture.code.to_owned(), name: format!("{}{}", province.name, prefecture.name) }
            }
            Some(prefecture) => City { code: prefecture.code.to_owned(), name: prefecture.name.to_owned() },
            // No prefecture entry: the province stands in for it.
            None => City { code: province.code.to_owned(), name: province.name.to_owned() },
        }
    }
}

impl fmt::Display for District {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(code: &str) -> RegionCode {
        RegionCode::parse(code).unwrap()
    }

    #[test]
    fn every_province_in_the_table_is_an_iso_code_and_its_gb2260_name_matches() {
        for (iso, prefix, name) in PROVINCES {
            let parsed = RegionCode::parse(iso).unwrap_or_else(|e| panic!("{iso}: {e}"));
            assert_eq!(province_prefix(&parsed), Some(prefix));
            let division = Division::get(&format!("{prefix}0000")).unwrap_or_else(|| panic!("{prefix}0000"));
            assert!(division.is_province(), "{iso}");
            assert_eq!(division.name, name, "{iso}");
        }
        assert_eq!(province_prefix(&region("CN-HK")), None);
    }

    #[test]
    fn a_county_level_code_of_the_citizens_province_is_a_district() {
        let haidian = District::parse("110108", &region("CN-BJ")).unwrap();
        assert_eq!((haidian.code(), haidian.name()), ("110108", "海淀区"));
        assert_eq!(haidian.city(), City { code: "110100".into(), name: "北京市".into() });
        let gulou = District::parse("320106", &region("CN-JS")).unwrap();
        assert_eq!(gulou.city(), City { code: "320100".into(), name: "南京市".into() });
        let dean = District::parse("360426", &region("CN-JX")).unwrap();
        assert_eq!((dean.name(), dean.city().name.as_str()), ("德安县", "九江市"));
    }

    #[test]
    fn a_municipalitys_districts_and_counties_are_one_city_named_as_the_province() {
        let yuzhong = District::parse("500103", &region("CN-CQ")).unwrap();
        let chengkou = District::parse("500229", &region("CN-CQ")).unwrap();
        assert_eq!(chengkou.name(), "城口县");
        let chongqing = City { code: "500100".into(), name: "重庆市".into() };
        assert_eq!((yuzhong.city(), chengkou.city()), (chongqing.clone(), chongqing));
        let jiyuan = District::parse("419001", &region("CN-HA")).unwrap();
        assert_eq!(jiyuan.city(), City { code: "419000".into(), name: "河南省省直辖县级行政区划".into() });
    }

    #[test]
    fn what_is_not_a_district_of_the_province_is_refused_saying_why() {
        let bj = region("CN-BJ");
        for code in ["", "11010", "1101088", "11010x", "１１０１０８", " 110108"] {
            assert_eq!(District::parse(code, &bj), Err(InvalidDistrict::Malformed(code.to_owned())), "{code:?}");
        }
        assert_eq!(District::parse("119999", &bj), Err(InvalidDistrict::Unknown("119999".into())));
        for code in ["110000", "110100", "130101", "500200"] {
            assert!(matches!(District::lookup(code), Err(InvalidDistrict::NotCounty { .. })), "{code}");
        }
        let shanghai = District::parse("310104", &bj).unwrap_err();
        assert!(matches!(&shanghai, InvalidDistrict::OutsideRegion { region, .. } if region == "CN-BJ"), "{shanghai}");
        assert!(shanghai.to_string().contains("徐汇区"), "{shanghai}");
        assert_eq!(
            District::parse("110108", &region("CN-HK")),
            Err(InvalidDistrict::RegionWithoutDistricts("CN-HK".into()))
        );
        assert_eq!(
            District::parse("110108", &region("US-CA")),
            Err(InvalidDistrict::RegionWithoutDistricts("US-CA".into()))
        );
    }
}
