//! The handle methods every shared object of this crate has: its name, keeping and unlinking
//! it, and its fd. Generated once here so that the types stay alike.

/// `shared_handle!(Type, "what")` implements `name`, `keep`, `unlink` and `AsFd` for a type
/// with an `obj: SharedObject` field; `shared_handle!(Type, KIND, "what", open)` adds `open`
/// and `from_fd` for types whose payload needs no check beyond the header.
macro_rules! shared_handle {
    ($ty:ident, $kind:expr, $what:literal, open) => {
        impl $ty {
            #[doc = concat!("Opens a named ", $what, " created by another process.")]
            ///
            /// # Errors
            ///
            /// `NotFound` if there is none; `InvalidInput` for a bad name; `InvalidData` if the
            #[doc = concat!("name holds something other than a multiproc ", $what, ".")]
            pub fn open(name: &str) -> std::io::Result<$ty> {
                Ok($ty {
                    obj: multiproc_internal::object::SharedObject::open(&$kind, name)?,
                })
            }

            #[doc = concat!("Rebuilds a ", $what, " from an fd received from another process")]
            /// (the sender passes its handle's `as_fd()`).
            ///
            /// # Errors
            ///
            #[doc = concat!("`InvalidData` if the fd is not a sealed multiproc ", $what, ".")]
            pub fn from_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<$ty> {
                Ok($ty {
                    obj: multiproc_internal::object::SharedObject::from_fd(&$kind, fd)?,
                })
            }
        }
        shared_handle!($ty, $what);
    };
    ($ty:ident, $what:literal) => {
        impl $ty {
            #[doc = concat!("The name of a named ", $what, " (`None` for an anonymous one).")]
            pub fn name(&self) -> Option<&str> {
                self.obj.block().name()
            }

            #[doc = concat!("Keeps a named ", $what, " after its creator's handle is dropped")]
            /// (by default the creator's handle unlinks the name), and tells cleanup to leave it.
            pub fn keep(&mut self) {
                self.obj.keep();
            }

            #[doc = concat!("Removes a named ", $what, "'s name; existing handles keep working.")]
            ///
            /// # Errors
            ///
            #[doc = concat!("`NotFound` if already unlinked; `InvalidInput` for an anonymous ", $what, ".")]
            pub fn unlink(&mut self) -> std::io::Result<()> {
                self.obj.unlink()
            }
        }

        impl std::os::fd::AsFd for $ty {
            #[doc = concat!("The fd behind the ", $what, ": send it to another process and call")]
            /// `from_fd` there.
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.obj.block().fd()
            }
        }
    };
}

pub(crate) use shared_handle;
