//! Cross-checking the libusb view of a printer against its IORegistry entries.
