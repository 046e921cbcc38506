/// The one place the version lives: `ticketd --version` prints it, and `scripts/package` reads
/// this line (the quoted string after `ticketdVersion =`) to name the Debian package. Keep it a
/// plain string literal on one line. (It is here rather than beside `main.swift` because a second
/// file there would turn `main.swift` into top-level code, which `@main` does not allow.)
public let ticketdVersion = "0.5.0"
