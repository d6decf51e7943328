//! Derive macros for Kafka Streams for Rust.
//!
//! Use them through the `streams` crate, which re-exports them; this crate is
//! an implementation detail and the code it generates names `::streams`.
//!
//! # `#[derive(StreamsSerde)]`
//!
//! Gives a type a default serde by implementing
//! `streams::serde::DefaultSerde` for it, so that the DSL's option types
//! (`Consumed`, `Produced`, `Materialized` ...) can use it without one being
//! spelled out, and so that `MyType::default_serde()` can be passed where one
//! is wanted.
//!
//! The wire format is chosen with `#[streams(format = "...")]`. JSON (through
//! `serde_json`) is the only format today and the default when the attribute
//! is absent. The type must also implement serde's `Serialize` and
//! `Deserialize`, usually by deriving them next to `StreamsSerde`:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use streams::serde::DefaultSerde;
//! use streams::StreamsSerde;
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize, StreamsSerde)]
//! #[streams(format = "json")] // the default, so this line may be left out
//! struct Order {
//!     id: u64,
//!     item: String,
//! }
//!
//! let serde = Order::default_serde();
//! let order = Order { id: 7, item: "tea".to_owned() };
//! let bytes = serde.serialize("orders", &order).unwrap();
//! assert_eq!(bytes, br#"{"id":7,"item":"tea"}"#);
//! assert_eq!(serde.deserialize("orders", &bytes).unwrap(), order);
//! ```
//!
//! See [`StreamsSerde`] for the attribute, generic types and the errors
//! reported at compile time.
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, GenericParam, LitStr, Token, parse_macro_input};

/// Implements `streams::serde::DefaultSerde` for a struct or an enum.
///
/// # Attribute
///
/// `#[streams(format = "json")]` picks the wire format. JSON (through
/// `serde_json`, in its compact form) is the only one today and the default
/// when no `format` is given. The attribute may be repeated, and each key may
/// appear once. The type must implement serde's `Serialize` and `Deserialize`
/// itself: this derive writes only the `DefaultSerde` impl.
///
/// # Generic types
///
/// Structs and enums may be generic. Type and const parameters are kept, as
/// is the type's own `where` clause, and the impl holds for exactly the
/// instantiations the format can handle: for JSON,
/// `Envelope<T>` gets a default serde when `Envelope<T>` is `Serialize`,
/// `DeserializeOwned` and `'static` (the bound is written as
/// `JsonSerde<Envelope<T>>: Serde<Envelope<T>>`, so the generated code does
/// not name the `serde` crate). Lifetime parameters are rejected: a serde
/// produces owned values that may live as long as the program.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use streams::serde::DefaultSerde;
/// use streams::StreamsSerde;
///
/// #[derive(Serialize, Deserialize, StreamsSerde)]
/// struct Envelope<T> {
///     key: String,
///     payload: T,
/// }
///
/// let serde = Envelope::<Vec<u8>>::default_serde();
/// let bytes = serde
///     .serialize("t", &Envelope { key: "k".to_owned(), payload: vec![1, 2] })
///     .unwrap();
/// assert_eq!(bytes, br#"{"key":"k","payload":[1,2]}"#);
/// ```
///
/// # Errors
///
/// Mistakes are compile errors pointing at the offending tokens:
///
/// - an unknown format, such as `format = "avro"` (the message lists the
///   supported formats);
/// - a key other than `format` in `#[streams(...)]`, or `format` twice;
/// - a malformed attribute: `#[streams]`, `#[streams(format)]`,
///   `#[streams(format = json)]`;
/// - a union, or a type with lifetime parameters;
/// - a type that is not `Serialize` and `DeserializeOwned` (reported by the
///   compiler on the derive).
#[proc_macro_derive(StreamsSerde, attributes(streams))]
pub fn derive_streams_serde(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// A wire format the derive can generate a serde for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// JSON through `serde_json`, with `streams::serde::JsonSerde`.
    Json,
}

impl Format {
    /// Every format, with the name it is written as in the attribute.
    const ALL: &'static [(&'static str, Format)] = &[("json", Format::Json)];

    fn from_lit(lit: &LitStr) -> syn::Result<Format> {
        let name = lit.value();
        Self::ALL
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, format)| *format)
            .ok_or_else(|| {
                let supported = Self::ALL
                    .iter()
                    .map(|(known, _)| format!("\"{known}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                syn::Error::new(
                    lit.span(),
                    format!("unknown format \"{name}\"; supported formats: {supported}"),
                )
            })
    }
}

/// What `#[streams(...)]` attributes on the type asked for.
struct Options {
    format: Format,
}

impl Options {
    /// Reads every `#[streams(...)]` attribute, reporting all problems at once.
    fn from_attrs(attrs: &[Attribute]) -> syn::Result<Options> {
        let mut format: Option<Format> = None;
        let mut errors: Option<syn::Error> = None;
        let mut push = |error: syn::Error| match &mut errors {
            Some(existing) => existing.combine(error),
            None => errors = Some(error),
        };

        for attr in attrs.iter().filter(|attr| attr.path().is_ident("streams")) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("format") {
                    if !meta.input.peek(Token![=]) {
                        return Err(meta.error(format!(
                            "expected a value: `format = \"{}\"`",
                            Format::ALL[0].0
                        )));
                    }
                    let lit: LitStr = meta.value()?.parse()?;
                    let parsed = Format::from_lit(&lit)?;
                    if format.is_some() {
                        return Err(meta.error("duplicate `format` in #[streams(...)]"));
                    }
                    format = Some(parsed);
                    Ok(())
                } else {
                    let path = &meta.path;
                    let key = quote!(#path).to_string().replace(' ', "");
                    Err(meta.error(format!(
                        "unknown key `{key}` in #[streams(...)]; expected `format`"
                    )))
                }
            });
            if let Err(error) = result {
                push(error);
            }
        }

        match errors {
            Some(errors) => Err(errors),
            None => Ok(Options {
                format: format.unwrap_or(Format::Json),
            }),
        }
    }
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    if let Data::Union(data) = &input.data {
        return Err(syn::Error::new(
            data.union_token.span(),
            "StreamsSerde cannot be derived for a union; use a struct or an enum",
        ));
    }

    let mut errors: Option<syn::Error> = None;
    for param in &input.generics.params {
        if let GenericParam::Lifetime(lifetime) = param {
            let error = syn::Error::new(
                lifetime.span(),
                "StreamsSerde cannot be derived for a type with lifetime parameters: \
                 a serde produces owned values, so the type must be 'static",
            );
            match &mut errors {
                Some(existing) => existing.combine(error),
                None => errors = Some(error),
            }
        }
    }
    let options = Options::from_attrs(&input.attrs);
    match (errors, options) {
        (Some(mut errors), Err(more)) => {
            errors.combine(more);
            Err(errors)
        }
        (Some(errors), Ok(_)) => Err(errors),
        (None, Err(errors)) => Err(errors),
        (None, Ok(options)) => Ok(generate(input, &options)),
    }
}

fn generate(input: &DeriveInput, options: &Options) -> TokenStream2 {
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let self_ty = quote!(#name #ty_generics);
    let span = name.span();

    // The format's serde type, and how to make one.
    let (serde_ty, new_serde) = match options.format {
        Format::Json => (
            quote!(::streams::serde::JsonSerde<#self_ty>),
            quote_spanned!(span=> ::streams::serde::JsonSerde::<Self>::new()),
        ),
    };

    // A generic type's impl must hold for every instantiation, so it is
    // bounded on the format's serde being a serde of the type (for JSON: the
    // type is `Serialize + DeserializeOwned`). Bounding on the serde and not
    // on serde's traits keeps the generated code from naming the `serde`
    // crate, which users may have renamed. A default serde is shared across
    // threads and tasks for the life of the topology, so the type must also
    // own its data. A concrete type needs no bound: the body is checked
    // against the type as it is.
    let mut predicates: Vec<TokenStream2> = where_clause
        .map(|clause| clause.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    if !input.generics.params.is_empty() {
        predicates.push(quote!(#serde_ty: ::streams::serde::Serde<#self_ty>));
        predicates.push(quote!(#self_ty: 'static));
    }
    let where_clause = if predicates.is_empty() {
        quote!()
    } else {
        quote!(where #(#predicates),*)
    };

    quote! {
        #[automatically_derived]
        impl #impl_generics ::streams::serde::DefaultSerde for #self_ty #where_clause {
            fn default_serde() -> ::streams::serde::SerdeRef<Self> {
                ::std::sync::Arc::new(#new_serde)
            }
        }
    }
}
