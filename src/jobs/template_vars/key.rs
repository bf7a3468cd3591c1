//! The text of a shared key: a value serialized so that two values of one type give the same
//! text exactly when serde sees them alike, and cheaply (every job of a pipeline computes one).
//! Unlike JSON nothing is escaped and no field is named: a string is its byte length and its
//! bytes, every other value a one-byte tag, so the text can be read back in only one way.

use serde::ser::{self, Serialize};

/// The key text of `value`.
pub(super) fn to_key<T: Serialize + ?Sized>(value: &T) -> String {
    // Most keys are a few hundred bytes: one allocation instead of several growths.
    let mut writer = KeyWriter(String::with_capacity(256));
    match value.serialize(&mut writer) {
        Ok(()) => writer.0,
        // Only a map with a non-string key fails, and template variables have none; an empty
        // key still only groups jobs whose keys failed alike.
        Err(_) => String::new(),
    }
}

struct KeyWriter(String);

#[derive(Debug)]
struct Unsupported(String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Unsupported(msg.to_string())
    }
}

impl KeyWriter {
    fn tag(&mut self, tag: char) {
        self.0.push(tag);
    }

    /// A number or length, ended by `;`.
    fn number(&mut self, tag: char, number: impl std::fmt::Display) {
        use std::fmt::Write;
        let _ = write!(self.0, "{tag}{number};");
    }

    /// A string: its length, `;`, then its bytes.
    fn text(&mut self, text: &str) {
        self.0.push('s');
        push_decimal(&mut self.0, text.len());
        self.0.push(';');
        self.0.push_str(text);
    }
}

/// `number` in decimal digits, without `fmt`: a key is mostly strings, each with its length.
fn push_decimal(out: &mut String, number: usize) {
    let mut digits = [0u8; 20];
    let mut rest = number;
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend(digits[start..].iter().map(|&digit| char::from(digit)));
}

type Done = Result<(), Unsupported>;

impl<'w> ser::Serializer for &'w mut KeyWriter {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Compound<'w>;
    type SerializeTuple = Compound<'w>;
    type SerializeTupleStruct = Compound<'w>;
    type SerializeTupleVariant = Compound<'w>;
    type SerializeMap = Compound<'w>;
    type SerializeStruct = Compound<'w>;
    type SerializeStructVariant = Compound<'w>;

    fn serialize_bool(self, v: bool) -> Done {
        self.tag(if v { 't' } else { 'f' });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Done {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Done {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Done {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Done {
        self.number('i', v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Done {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Done {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Done {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Done {
        self.number('u', v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Done {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Done {
        self.number('d', v.to_bits());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Done {
        self.text(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Done {
        self.text(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Done {
        self.number('b', v.len());
        for byte in v {
            self.number('u', byte);
        }
        Ok(())
    }
    fn serialize_none(self) -> Done {
        self.tag('n');
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Done {
        self.tag('y');
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        self.tag('0');
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Done {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
    ) -> Done {
        self.number('v', index);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Done {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Done {
        self.number('v', index);
        value.serialize(self)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'w>, Unsupported> {
        self.tag('[');
        Ok(Compound(self))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'w>, Unsupported> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'w>, Unsupported> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w>, Unsupported> {
        self.number('v', index);
        self.serialize_seq(None)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'w>, Unsupported> {
        self.serialize_seq(None)
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'w>, Unsupported> {
        self.serialize_seq(None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w>, Unsupported> {
        self.number('v', index);
        self.serialize_seq(None)
    }
}

/// The items of a list, map or struct: each after `,` (a field serde skips: `-`), then `]`.
/// Field names are left out: one type always has its fields in one order.
struct Compound<'w>(&'w mut KeyWriter);

impl Compound<'_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        self.0.tag(',');
        value.serialize(&mut *self.0)
    }

    fn end(self) -> Done {
        self.0.tag(']');
        Ok(())
    }
}

/// The sequence-like compounds write each element as an item.
macro_rules! items_compound {
    ($($compound:ident::$element:ident),*) => {$(
        impl ser::$compound for Compound<'_> {
            type Ok = ();
            type Error = Unsupported;
            fn $element<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
                self.item(value)
            }
            fn end(self) -> Done {
                Compound::end(self)
            }
        }
    )*};
}

items_compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Done {
        self.item(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        value.serialize(&mut *self.0)
    }
    fn end(self) -> Done {
        Compound::end(self)
    }
}

/// The struct-like compounds write each field's value as an item, a skipped field as `-`.
macro_rules! fields_compound {
    ($($compound:ident),*) => {$(
        impl ser::$compound for Compound<'_> {
            type Ok = ();
            type Error = Unsupported;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                _key: &'static str,
                value: &T,
            ) -> Done {
                self.item(value)
            }
            fn skip_field(&mut self, _key: &'static str) -> Done {
                self.0.tag('-');
                Ok(())
            }
            fn end(self) -> Done {
                Compound::end(self)
            }
        }
    )*};
}

fields_compound!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::to_key;

    #[derive(Serialize)]
    struct Inner {
        #[serde(skip_serializing_if = "Option::is_none")]
        a: Option<String>,
        b: Vec<String>,
    }

    #[derive(Serialize)]
    struct Outer {
        first: Option<Inner>,
        map: BTreeMap<String, String>,
        flag: bool,
        count: usize,
    }

    fn outer(a: Option<&str>, b: &[&str], map: &[(&str, &str)]) -> Outer {
        Outer {
            first: Some(Inner {
                a: a.map(str::to_string),
                b: b.iter().map(|s| s.to_string()).collect(),
            }),
            map: map
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            flag: true,
            count: 2,
        }
    }

    #[test]
    fn a_string_is_its_length_in_decimal_then_its_bytes() {
        for length in [0, 7, 10, 123, 4096] {
            let text = "x".repeat(length);
            assert_eq!(to_key(&text), format!("s{length};{text}"));
        }
    }

    #[test]
    fn values_that_differ_have_different_keys() {
        // Each pair would run together without lengths, tags or skip marks.
        let pairs = [
            (outer(None, &["a,b"], &[]), outer(None, &["a", "b"], &[])),
            (outer(Some(""), &[], &[]), outer(None, &[""], &[])),
            (outer(None, &["]"], &[]), outer(None, &[], &[("]", "")])),
            (
                outer(None, &[], &[("ab", "c")]),
                outer(None, &[], &[("a", "bc")]),
            ),
            (
                outer(None, &["x"], &[("k", "v")]),
                outer(None, &["x"], &[("k", "w")]),
            ),
        ];
        for (one, other) in &pairs {
            assert_ne!(to_key(one), to_key(other));
        }
        assert_eq!(
            to_key(&outer(Some("ü"), &["x"], &[("k", "v")])),
            "[,y[,ys2;ü,[,s1;x]],[,s1;ks1;v],t,u2;]"
        );
        assert_eq!(to_key(&outer(None, &[], &[])), "[,y[-,[]],[],t,u2;]");
    }

    #[test]
    fn equal_values_have_equal_keys() {
        let make = || outer(Some("a"), &["b", "c"], &[("d", "e")]);
        assert_eq!(to_key(&make()), to_key(&make()));
    }
}
