//! Metadata stripping for photos, without decoding the image: a walk over the file's segments
//! (JPEG) or chunks (PNG) that keeps what is needed to show the picture and drops everything
//! else, validating the structure as it goes. Truncated or malformed input is an error, never a
//! panic.
//!
//! The walk keeps an allow-list rather than dropping a deny-list, so metadata in a segment or
//! chunk nobody thought of (C2PA "content credentials", vendor blocks) goes too:
//!
//! - JPEG: frame headers (SOF), Huffman and arithmetic tables, quantisation tables, restart
//!   interval, scans with their entropy-coded data, `APP0` (JFIF) and `APP14` when it is the
//!   Adobe colour-transform flag (a few bytes that tell a decoder how to read CMYK and YCCK
//!   pictures, nothing about the person). Dropped: `APP1`–`APP13` and `APP15` (EXIF with GPS
//!   and camera serial numbers, XMP, IPTC, ICC profiles, MPF), comments, anything after the
//!   end-of-image marker. The EXIF orientation goes with EXIF, so a picture taken sideways
//!   may show sideways; that is the price of not decoding it.
//! - PNG: `IHDR`, `PLTE`, `IDAT`, `IEND` and the rendering chunks `tRNS`, `gAMA`, `cHRM`,
//!   `sRGB`, `sBIT`, `bKGD`, `pHYs`. Dropped: `tEXt`, `zTXt`, `iTXt`, `eXIf`, `tIME`, `iCCP`
//!   and every other chunk, and anything after `IEND`.

/// What kind of picture the bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhotoKind {
    Jpeg,
    Png,
}

impl PhotoKind {
    /// Recognise a picture by its first bytes.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(PhotoKind::Jpeg)
        } else if bytes.starts_with(PNG_SIGNATURE) {
            Some(PhotoKind::Png)
        } else {
            None
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            PhotoKind::Jpeg => "image/jpeg",
            PhotoKind::Png => "image/png",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a JPEG or PNG picture")]
    UnsupportedFormat,
    #[error("the picture is cut short (the file is incomplete)")]
    Truncated,
    #[error("the picture is damaged: {0}")]
    Malformed(&'static str),
}

const PNG_SIGNATURE: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// The picture without its metadata, or why it is refused. Accepts JPEG and PNG only.
pub fn strip_metadata(bytes: &[u8]) -> Result<Vec<u8>, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    match PhotoKind::detect(bytes) {
        Some(PhotoKind::Jpeg) => strip_jpeg(bytes),
        Some(PhotoKind::Png) => strip_png(bytes),
        None => Err(PhotoError::UnsupportedFormat),
    }
}

fn be16(b: &[u8], at: usize) -> Result<usize, PhotoError> {
    match b.get(at..at + 2) {
        Some(s) => Ok(usize::from(u16::from_be_bytes([s[0], s[1]]))),
        None => Err(PhotoError::Truncated),
    }
}

fn be32(b: &[u8], at: usize) -> Result<usize, PhotoError> {
    match b.get(at..at + 4) {
        Some(s) => usize::try_from(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
            .map_err(|_| PhotoError::Malformed("a chunk length does not fit")),
        None => Err(PhotoError::Truncated),
    }
}

/// Which JPEG marker segments are kept. `payload` is the segment after its length field.
fn keep_jpeg_segment(marker: u8, payload: &[u8]) -> bool {
    match marker {
        // SOF0–SOF15 (without C8, reserved), DHT (C4), DAC (CC).
        0xC0..=0xC7 | 0xC9..=0xCF => true,
        // DQT, DNL, DRI, DHP, EXP.
        0xDB..=0xDF => true,
        // APP0: JFIF / JFXX.
        0xE0 => true,
        // APP14 "Adobe": the colour transform flag only.
        0xEE => payload.starts_with(b"Adobe") && payload.len() <= 16,
        _ => false,
    }
}

fn strip_jpeg(b: &[u8]) -> Result<Vec<u8>, PhotoError> {
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut i = 2;
    let mut frame = false;
    let mut scan = false;
    loop {
        // A marker: 0xFF, any number of 0xFF fill bytes, then the marker code.
        if b.get(i).copied().ok_or(PhotoError::Truncated)? != 0xFF {
            return Err(PhotoError::Malformed("expected a marker between segments"));
        }
        while b.get(i).copied().ok_or(PhotoError::Truncated)? == 0xFF {
            i += 1;
        }
        let marker = b[i];
        i += 1;
        match marker {
            0xD9 => {
                if !frame || !scan {
                    return Err(PhotoError::Malformed("the picture has no image data"));
                }
                out.extend_from_slice(&[0xFF, 0xD9]);
                return Ok(out);
            }
            0xD8 => return Err(PhotoError::Malformed("a second start-of-image marker")),
            0x00 => return Err(PhotoError::Malformed("a stray byte where a marker belongs")),
            // Standalone markers: TEM and restart markers outside a scan carry nothing.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let len = be16(b, i)?;
        if len < 2 {
            return Err(PhotoError::Malformed("a segment length below 2"));
        }
        let end = i.checked_add(len).ok_or(PhotoError::Truncated)?;
        let payload = b.get(i + 2..end).ok_or(PhotoError::Truncated)?;
        if marker == 0xDA {
            if !frame {
                return Err(PhotoError::Malformed("image data before the frame header"));
            }
            scan = true;
            // The scan header, then entropy-coded data up to the next marker that is neither
            // a stuffed 0xFF00 nor a restart marker.
            let mut j = end;
            loop {
                let byte = b.get(j).copied().ok_or(PhotoError::Truncated)?;
                if byte == 0xFF {
                    let next = b.get(j + 1).copied().ok_or(PhotoError::Truncated)?;
                    if next != 0x00 && !(0xD0..=0xD7).contains(&next) && next != 0xFF {
                        break;
                    }
                    j += if next == 0xFF { 1 } else { 2 };
                } else {
                    j += 1;
                }
            }
            out.extend_from_slice(&b[i - 2..j]);
            i = j;
            continue;
        }
        if matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
            frame = true;
        }
        if keep_jpeg_segment(marker, payload) {
            out.extend_from_slice(&b[i - 2..end]);
        }
        i = end;
    }
}

/// PNG chunks kept: the critical ones and those that change how the picture is rendered.
const PNG_KEEP: [&[u8; 4]; 11] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD",
    b"pHYs",
];

fn strip_png(b: &[u8]) -> Result<Vec<u8>, PhotoError> {
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(PNG_SIGNATURE);
    let mut i = PNG_SIGNATURE.len();
    let mut first = true;
    let mut data = false;
    loop {
        let len = be32(b, i)?;
        if len > 0x7FFF_FFFF {
            return Err(PhotoError::Malformed("a chunk length above the PNG limit"));
        }
        let kind = b.get(i + 4..i + 8).ok_or(PhotoError::Truncated)?;
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(PhotoError::Malformed(
                "a chunk type that is not four letters",
            ));
        }
        let end = (i + 12).checked_add(len).ok_or(PhotoError::Truncated)?;
        if end > b.len() {
            return Err(PhotoError::Truncated);
        }
        if first && kind != b"IHDR" {
            return Err(PhotoError::Malformed("the first chunk is not the header"));
        }
        if !first && kind == b"IHDR" {
            return Err(PhotoError::Malformed("a second header chunk"));
        }
        first = false;
        if kind == b"IDAT" {
            data = true;
        }
        if PNG_KEEP.iter().any(|k| k.as_slice() == kind) {
            out.extend_from_slice(&b[i..end]);
        } else if kind[0].is_ascii_uppercase() {
            // An unknown critical chunk: a decoder could not show the picture without it.
            return Err(PhotoError::Malformed("an unknown critical chunk"));
        }
        if kind == b"IEND" {
            if !data {
                return Err(PhotoError::Malformed("the picture has no image data"));
            }
            return Ok(out);
        }
        i = end;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
        s.extend_from_slice(payload);
        s
    }

    /// A structurally valid baseline JPEG with an EXIF block holding `exif_text` (GPS and a
    /// camera serial, as a phone writes them), an XMP block, a comment, and `scan_data` as its
    /// entropy-coded data.
    pub(crate) fn jpeg_with_exif(exif_text: &str, scan_data: &[u8]) -> Vec<u8> {
        let mut f = vec![0xFF, 0xD8];
        f.extend(segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
        let mut exif = b"Exif\0\0MM\0*\0\0\0\x08".to_vec();
        exif.extend_from_slice(exif_text.as_bytes());
        f.extend(segment(0xE1, &exif));
        f.extend(segment(
            0xE1,
            format!("http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>{exif_text}</x:xmpmeta>").as_bytes(),
        ));
        f.extend(segment(0xE2, b"ICC_PROFILE\0\x01\x01profile"));
        f.extend(segment(0xDB, &[0u8; 65]));
        f.extend(segment(0xC0, &[8, 0, 16, 0, 16, 1, 1, 0x11, 0]));
        f.extend(segment(
            0xC4,
            &[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ));
        f.extend(segment(0xFE, format!("comment {exif_text}").as_bytes()));
        f.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        // Entropy-coded data, with a stuffed 0xFF00 and a restart marker inside.
        f.extend_from_slice(scan_data);
        f.extend_from_slice(&[0xFF, 0x00, 0x12, 0xFF, 0xD0, 0x34]);
        f.extend_from_slice(&[0xFF, 0xD9]);
        f
    }

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend_from_slice(&[0, 0, 0, 0]);
        c
    }

    pub(crate) fn png_with_text(text: &str) -> Vec<u8> {
        let mut f = PNG_SIGNATURE.to_vec();
        f.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]));
        f.extend(chunk(b"tEXt", format!("Author\0{text}").as_bytes()));
        f.extend(chunk(b"eXIf", format!("MM\0*{text}").as_bytes()));
        f.extend(chunk(b"tIME", &[7, 232, 8, 9, 10, 11, 12]));
        f.extend(chunk(b"caBX", text.as_bytes()));
        f.extend(chunk(b"IDAT", b"pixels-pixels"));
        f.extend(chunk(b"IEND", &[]));
        f
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn jpeg_loses_exif_xmp_icc_and_comments_but_keeps_the_image() {
        let marker = "GPS 53.9006N 27.5590E Canon EOS serial 0815-TALAKA-MARKER";
        let scan = b"SCAN-DATA-0123456789";
        let raw = jpeg_with_exif(marker, scan);
        let clean = strip_metadata(&raw).unwrap();
        assert!(contains(&raw, b"TALAKA-MARKER"));
        assert!(
            !contains(&clean, b"TALAKA-MARKER"),
            "the EXIF text survived"
        );
        assert!(!contains(&clean, b"Exif\0\0"));
        assert!(!contains(&clean, b"ICC_PROFILE"));
        assert!(!contains(&clean, b"xmpmeta"));
        assert!(contains(&clean, scan), "the image data was lost");
        assert!(contains(&clean, b"JFIF"));
        assert!(clean.starts_with(&[0xFF, 0xD8]) && clean.ends_with(&[0xFF, 0xD9]));
        // Stripping is idempotent.
        assert_eq!(strip_metadata(&clean).unwrap(), clean);
    }

    #[test]
    fn png_loses_text_exif_and_time_but_keeps_the_image() {
        let raw = png_with_text("TALAKA-MARKER");
        let clean = strip_metadata(&raw).unwrap();
        assert!(!contains(&clean, b"TALAKA-MARKER"));
        assert!(!contains(&clean, b"tIME"));
        assert!(contains(&clean, b"pixels-pixels"));
        assert!(contains(&clean, b"IHDR") && contains(&clean, b"IEND"));
        assert_eq!(strip_metadata(&clean).unwrap(), clean);
    }

    #[test]
    fn other_formats_and_broken_files_are_refused() {
        assert_eq!(strip_metadata(b""), Err(PhotoError::Empty));
        assert_eq!(
            strip_metadata(b"GIF89a....."),
            Err(PhotoError::UnsupportedFormat)
        );
        assert_eq!(
            strip_metadata(b"%PDF-1.7"),
            Err(PhotoError::UnsupportedFormat)
        );
        let jpeg = jpeg_with_exif("x", b"data");
        for cut in [3, 10, 40, jpeg.len() - 1] {
            assert!(strip_metadata(&jpeg[..cut]).is_err(), "cut at {cut}");
        }
        let png = png_with_text("x");
        for cut in [9, 20, png.len() - 1] {
            assert!(strip_metadata(&png[..cut]).is_err(), "cut at {cut}");
        }
        // No image data at all.
        let mut empty = vec![0xFF, 0xD8];
        empty.extend(segment(0xE0, b"JFIF\0"));
        empty.extend_from_slice(&[0xFF, 0xD9]);
        assert!(matches!(
            strip_metadata(&empty),
            Err(PhotoError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = strip_metadata(&bytes);
        }

        #[test]
        fn arbitrary_bytes_after_a_signature_never_panic(
            png in any::<bool>(),
            tail in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let mut bytes = if png { PNG_SIGNATURE.to_vec() } else { vec![0xFF, 0xD8, 0xFF] };
            bytes.extend(tail);
            let _ = strip_metadata(&bytes);
        }

        #[test]
        fn any_exif_text_goes_and_any_image_data_stays(
            marker in "[A-Za-z0-9 .,:-]{8,80}",
            scan in proptest::collection::vec(0u8..0xFF, 1..600),
        ) {
            let raw = jpeg_with_exif(&format!("MARK{marker}"), &scan);
            let clean = strip_metadata(&raw).unwrap();
            let needle = format!("MARK{marker}");
            prop_assert!(!contains(&clean, needle.as_bytes()));
            prop_assert!(contains(&clean, &scan));
            prop_assert!(clean.len() < raw.len());
        }

        #[test]
        fn damaged_real_pictures_never_panic(
            png in any::<bool>(),
            at in any::<proptest::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<proptest::sample::Index>(),
        ) {
            let mut bytes = if png { png_with_text("t") } else { jpeg_with_exif("t", b"scan") };
            let i = at.index(bytes.len());
            bytes[i] = byte;
            let keep = cut.index(bytes.len() + 1);
            bytes.truncate(keep.max(1));
            if let Ok(clean) = strip_metadata(&bytes) {
                // Whatever passes is itself a valid picture.
                prop_assert!(strip_metadata(&clean).is_ok());
            }
        }
    }
}
