//! `#[abreast::task]`: turns a plain function into a process-pool task.
//!
//! The attribute keeps the function callable as before and makes its name also a typed handle
//! that `abreast::processes::ProcessPool` accepts, registered by name in a link-time table so a
//! worker process (the same executable started again) can find it. Use it through the `abreast`
//! crate (`#[abreast::task]`), which re-exports it; see `abreast::processes` for the whole story.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, ReturnType, Type, parse_macro_input};

/// Registers `fn name(args…) -> R` as a process-pool task named `module::path::name`.
///
/// The function's name becomes a unit struct (same visibility) that derefs to the function, so
/// `name(x)` still calls it directly, and that implements `abreast::processes::Task`, so
/// `pool.submit(name, x)` and `pool.map(name, xs)` type-check. Arguments and the result must be
/// serde types; several arguments travel as one tuple. Generic and `async` functions are refused.
///
/// `#[abreast::task(fallible)]` on a function returning `Result<T, E>` (with `E: Display`)
/// makes `T` the task's value and an `Err` the task's `TaskError::Failed`, carrying the error's
/// type name and message.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    let fallible = match parse_options(attr.into()) {
        Ok(fallible) => fallible,
        Err(error) => return error.to_compile_error().into(),
    };
    let function = parse_macro_input!(item as ItemFn);
    match expand(function, fallible) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// The attribute's options: nothing, or `fallible`.
fn parse_options(attr: proc_macro2::TokenStream) -> syn::Result<bool> {
    if attr.is_empty() {
        return Ok(false);
    }
    let option: syn::Ident = syn::parse2(attr)?;
    if option == "fallible" {
        Ok(true)
    } else {
        Err(syn::Error::new(
            option.span(),
            "unknown option: #[abreast::task] takes nothing, or `fallible` for a function returning Result<T, E>",
        ))
    }
}

fn expand(function: ItemFn, fallible: bool) -> syn::Result<proc_macro2::TokenStream> {
    let signature = &function.sig;
    if !signature.generics.params.is_empty() || signature.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            signature.generics.span(),
            "a process-pool task cannot be generic: the worker looks it up by name, so give it concrete argument and result types",
        ));
    }
    if let Some(asyncness) = signature.asyncness {
        return Err(syn::Error::new(
            asyncness.span(),
            "a process-pool task cannot be async: make it a plain fn (it runs on its own process)",
        ));
    }
    if let Some(receiver) = signature.receiver() {
        return Err(syn::Error::new(
            receiver.span(),
            "a process-pool task must be a free function, not a method",
        ));
    }
    let mut arg_types: Vec<Type> = Vec::new();
    for input in &signature.inputs {
        if let FnArg::Typed(typed) = input {
            if let Pat::Ident(ident) = typed.pat.as_ref()
                && ident.by_ref.is_some()
            {
                return Err(syn::Error::new(
                    ident.span(),
                    "task arguments are taken by value",
                ));
            }
            arg_types.push((*typed.ty).clone());
        }
    }
    let output: Type = match &signature.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let name = &signature.ident;
    let vis = &function.vis;
    let body_name = format_ident!("__abreast_task_body_{}", name);
    let docs: Vec<_> = function
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .collect();
    let mut body = function.clone();
    body.sig.ident = body_name.clone();
    body.vis = syn::Visibility::Inherited;
    body.attrs.retain(|attr| !attr.path().is_ident("doc"));

    // One argument travels as itself, several as a tuple, none as `()`.
    let (arg_type, call) = if arg_types.len() == 1 {
        let only = &arg_types[0];
        (quote!(#only), quote!(#body_name(arg)))
    } else {
        let fields = (0..arg_types.len()).map(syn::Index::from);
        (
            quote!((#(#arg_types,)*)),
            quote!({
                let _ = &arg;
                #body_name(#(arg.#fields),*)
            }),
        )
    };
    // A fallible task's `Err` becomes the task's `TaskError::Failed`; its `Ok` is the value.
    let (task_output, call) = if fallible {
        (
            quote!(<#output as ::abreast::__private::Fallible>::Ok),
            quote!(::abreast::__private::Fallible::into_task_result(#call)),
        )
    } else {
        (quote!(#output), quote!(::core::result::Result::Ok(#call)))
    };
    let name_text = name.to_string();
    Ok(quote! {
        #(#docs)*
        ///
        /// *A process-pool task (`#[abreast::task]`): call it directly, or pass it to a
        /// `ProcessPool`.*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, Default)]
        #vis struct #name;

        const _: () = {
            #[allow(clippy::needless_pass_by_value)]
            #body

            impl ::abreast::processes::Task for #name {
                type Arg = #arg_type;
                type Output = #task_output;
                const NAME: &'static str = ::core::concat!(::core::module_path!(), "::", #name_text);
                fn call(
                    arg: Self::Arg,
                ) -> ::core::result::Result<Self::Output, ::abreast::processes::RemoteError> {
                    #call
                }
            }

            impl ::core::ops::Deref for #name {
                type Target = fn(#(#arg_types),*) -> #output;
                fn deref(&self) -> &Self::Target {
                    const FUNCTION: fn(#(#arg_types),*) -> #output = #body_name;
                    &FUNCTION
                }
            }

            #[::abreast::__private::linkme::distributed_slice(::abreast::__private::TASKS)]
            #[linkme(crate = ::abreast::__private::linkme)]
            static REGISTRATION: ::abreast::__private::Registration =
                ::abreast::__private::Registration::of::<#name>();
        };
    })
}
