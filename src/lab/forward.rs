//! Forwarding a lab trait to a part: composed labs (the macOS lab with its log stream, the vm lab's sim
//! half) implement a trait by handing every call to one field. One macro per trait, so a new trait method
//! is forwarded in one place. Method-call syntax, so a field behind an `Arc` forwards too.

/// `forward_usb_bus!(Type, field)`: `impl UsbBus for Type` by calling `self.field`.
#[macro_export]
macro_rules! forward_usb_bus {
    ($ty:ty, $($part:tt)+) => {
        impl $crate::lab::UsbBus for $ty {
            fn devices(&self) -> Result<Vec<$crate::lab::UsbView>, $crate::lab::LabError> {
                {
                    #[allow(unused_imports)] // in scope already at some call sites
                    use $crate::lab::UsbBus as _;
                    self.$($part)+.devices()
                }
            }
            fn replug(&self, device: &$crate::lab::UsbView) -> Result<(), $crate::lab::LabError> {
                {
                    #[allow(unused_imports)] // in scope already at some call sites
                    use $crate::lab::UsbBus as _;
                    self.$($part)+.replug(device)
                }
            }
            fn wait_usb(
                &self,
                pred: &(dyn Fn(&$crate::lab::UsbView) -> bool + Sync),
                present: bool,
                deadline: std::time::Instant,
            ) -> Result<Option<$crate::lab::UsbView>, $crate::lab::WaitError> {
                {
                    #[allow(unused_imports)] // in scope already at some call sites
                    use $crate::lab::UsbBus as _;
                    self.$($part)+.wait_usb(pred, present, deadline)
                }
            }
        }
    };
}

/// `forward_registry!(Type, field)`: `impl Registry for Type` by calling `self.field`.
#[macro_export]
macro_rules! forward_registry {
    ($ty:ty, $($part:tt)+) => {
        impl $crate::lab::Registry for $ty {
            fn find(
                &self,
                matching: &$crate::lab::Matching,
            ) -> Result<Vec<$crate::lab::RegEntry>, $crate::lab::LabError> {
                {
                    #[allow(unused_imports)] // in scope already at some call sites
                    use $crate::lab::Registry as _;
                    self.$($part)+.find(matching)
                }
            }
            fn entry(
                &self,
                id: $crate::lab::EntryId,
            ) -> Result<$crate::lab::RegEntry, $crate::lab::LabError> {
                {
                    #[allow(unused_imports)] // in scope already at some call sites
                    use $crate::lab::Registry as _;
                    self.$($part)+.entry(id)
                }
            }
            fn is_registered(&self, id: $crate::lab::EntryId) -> bool {
                {
                    #[allow(unused_imports)] // in scope already at some call sites
                    use $crate::lab::Registry as _;
                    self.$($part)+.is_registered(id)
                }
            }
            fn children(
                &self,
                id: $crate::lab::EntryId,
            ) -> Result<Vec<$crate::lab::RegEntry>, $crate::lab::LabError> {
                {
                    #[allow(unused_imports)] // in scope already at some call sites
                    use $crate::lab::Registry as _;
                    self.$($part)+.children(id)
                }
            }
            fn wait(
                &self,
                matching: &$crate::lab::Matching,
                what: $crate::lab::WaitFor,
                deadline: std::time::Instant,
            ) -> Result<Option<$crate::lab::RegEntry>, $crate::lab::WaitError> {
                {
                    #[allow(unused_imports)] // in scope already at some call sites
                    use $crate::lab::Registry as _;
                    self.$($part)+.wait(matching, what, deadline)
                }
            }
        }
    };
}

/// `forward_user_clients!(Type, field)`: `impl UserClients for Type` by calling `self.field`.
#[macro_export]
macro_rules! forward_user_clients {
    ($ty:ty, $($part:tt)+) => {
        impl $crate::lab::UserClients for $ty {
            fn open(
                &self,
                request: &$crate::lab::OpenRequest,
            ) -> Result<$crate::lab::OpenOutcome, $crate::lab::LabError> {
                {
                    #[allow(unused_imports)] // in scope already at some call sites
                    use $crate::lab::UserClients as _;
                    self.$($part)+.open(request)
                }
            }
            fn call(
                &self,
                connection: $crate::lab::ConnectionId,
                args: &$crate::lab::CallArgs,
            ) -> Result<$crate::lab::CallOutcome, $crate::lab::LabError> {
                {
                    #[allow(unused_imports)] // in scope already at some call sites
                    use $crate::lab::UserClients as _;
                    self.$($part)+.call(connection, args)
                }
            }
            fn close(
                &self,
                connection: $crate::lab::ConnectionId,
            ) -> Result<$crate::ioreturn::ReturnCode, $crate::lab::LabError> {
                {
                    #[allow(unused_imports)] // in scope already at some call sites
                    use $crate::lab::UserClients as _;
                    self.$($part)+.close(connection)
                }
            }
            fn open_count(&self) -> usize {
                {
                    #[allow(unused_imports)] // in scope already at some call sites
                    use $crate::lab::UserClients as _;
                    self.$($part)+.open_count()
                }
            }
        }
    };
}
