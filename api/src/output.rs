//! The one module that prints to standard output: what a person at the
//! terminal must see whatever the log level.

/// Prints the development tokens `serve --dev` accepts.
#[allow(clippy::print_stdout)] // the binary's one output module (STYLE.md §9)
pub fn print_dev_tokens(tokens: &[(&str, &str)]) {
    println!("ordo is running in development mode; use these bearer tokens:");
    for (role, token) in tokens {
        println!("  {role:<9} {token}");
    }
}

/// Prints a JSON document, pretty.
#[allow(clippy::print_stdout)] // the binary's one output module (STYLE.md §9)
pub fn print_json(value: &serde_json::Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(_) => println!("{value}"),
    }
}

/// Prints a line of a command's result.
#[allow(clippy::print_stdout)] // the binary's one output module (STYLE.md §9)
pub fn print_line(line: &str) {
    println!("{line}");
}
