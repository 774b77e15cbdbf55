# The optional cuDNN baseline (kernels/softmax_cudnn_form.cpp): cuDNN 9's headers, its
# C++ frontend (header-only) and, where present, the directory of libcudnn.so.9, which
# the form opens at run time. Looked for under CUDNN_ROOT and CUDNN_FRONTEND_ROOT (cache
# variables or environment), the virtual environments scripts/setup_cudnn.sh and
# scripts/setup_peers.sh make (pip's nvidia-cudnn-cu13 and nvidia-cudnn-frontend), the
# CUDA toolkit and the system paths. Sets CudnnFrontend_FOUND, CUDNN_INCLUDE_DIRS,
# CUDNN_LIBRARY_DIR ("" when only the headers were found: the loader's search then
# decides at run time) and CUDNN_NOT_FOUND_REASON.
set(_venv_sites "")
foreach(_venv .venv-cudnn .venv-peers)
  file(GLOB _site "${PROJECT_SOURCE_DIR}/${_venv}/lib/python3*/site-packages")
  list(APPEND _venv_sites ${_site})
endforeach()
set(_cudnn_hints "")
set(_frontend_hints "")
foreach(_root "${CUDNN_ROOT}" "$ENV{CUDNN_ROOT}")
  if(_root)
    list(APPEND _cudnn_hints "${_root}")
  endif()
endforeach()
foreach(_root "${CUDNN_FRONTEND_ROOT}" "$ENV{CUDNN_FRONTEND_ROOT}")
  if(_root)
    list(APPEND _frontend_hints "${_root}")
  endif()
endforeach()
foreach(_site ${_venv_sites})
  list(APPEND _cudnn_hints "${_site}/nvidia/cudnn")
  list(APPEND _frontend_hints "${_site}")
endforeach()
list(APPEND _cudnn_hints ${CUDAToolkit_LIBRARY_ROOT})

find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${_cudnn_hints} PATH_SUFFIXES include)
find_path(CUDNN_FRONTEND_INCLUDE_DIR cudnn_frontend.h HINTS ${_frontend_hints} PATH_SUFFIXES include)
find_file(CUDNN_LIBRARY_FILE libcudnn.so.9 HINTS ${_cudnn_hints} PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu)

set(CudnnFrontend_FOUND FALSE)
if(NOT CUDNN_INCLUDE_DIR)
  set(CUDNN_NOT_FOUND_REASON "built without cuDNN (cudnn.h not found: run bash scripts/setup_cudnn.sh, then re-run cmake)")
elseif(NOT CUDNN_FRONTEND_INCLUDE_DIR)
  set(CUDNN_NOT_FOUND_REASON
      "built without cuDNN's frontend (cudnn_frontend.h not found: run bash scripts/setup_cudnn.sh, then re-run cmake)")
else()
  set(CudnnFrontend_FOUND TRUE)
  set(CUDNN_INCLUDE_DIRS ${CUDNN_INCLUDE_DIR} ${CUDNN_FRONTEND_INCLUDE_DIR})
  set(CUDNN_LIBRARY_DIR "")
  if(CUDNN_LIBRARY_FILE)
    get_filename_component(CUDNN_LIBRARY_DIR "${CUDNN_LIBRARY_FILE}" DIRECTORY)
  endif()
  message(STATUS "cuDNN: headers ${CUDNN_INCLUDE_DIR}, frontend ${CUDNN_FRONTEND_INCLUDE_DIR}, "
                 "library ${CUDNN_LIBRARY_FILE}")
endif()
