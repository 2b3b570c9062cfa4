//! Settings written as text (the environment, flags): a serde deserializer
//! that reads the type a setting asks for out of a string.

use serde::de::{self, IntoDeserializer, Visitor};
use serde::Deserializer;

/// A setting written as text (an environment variable, a flag): numbers,
/// switches (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`) and
/// comma-separated lists are read out of it as the setting's type asks; an
/// empty text is an unset optional setting.
#[derive(Debug, Clone, Copy)]
pub struct Text<'a>(pub &'a str);

impl<'a> Text<'a> {
    fn parse<T: std::str::FromStr, E: de::Error>(&self, what: &str) -> Result<T, E> {
        self.0.trim().parse().map_err(|_| E::custom(format!("`{}` is not {what}", self.0)))
    }
}

impl<'de, 'a> Deserializer<'de> for Text<'a> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_str(self.0)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self.0.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" | "1" => v.visit_bool(true),
            "false" | "no" | "n" | "off" | "0" => v.visit_bool(false),
            _ => Err(de::Error::custom(format!("`{}` is not true or false", self.0))),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_i64(self.parse("a whole number")?)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_u64(self.parse("a whole number")?)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_u32(self.parse("a whole number")?)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_i32(self.parse("a whole number")?)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_f64(self.parse("a number")?)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        if self.0.trim().is_empty() {
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, Self::Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        let items = self.0.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Text);
        v.visit_seq(de::value::SeqDeserializer::new(items))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        v.visit_enum(self.0.trim().into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i128 u8 u16 u128 f32 char str string bytes byte_buf unit unit_struct
        tuple tuple_struct map struct identifier ignored_any
    }
}

impl<'de, 'a> IntoDeserializer<'de, de::value::Error> for Text<'a> {
    type Deserializer = Text<'a>;
    fn into_deserializer(self) -> Text<'a> {
        self
    }
}
